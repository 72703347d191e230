#!/bin/sh
# Shipped by every-kind-low.rbk, which only shows the declaration.
echo ok
