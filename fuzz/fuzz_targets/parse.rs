//! Any bytes through the first two stages: reading (`source::from_bytes`) and parsing.
//! A refused input or a syntax error is a fine answer; a panic, a stack overflow or an
//! `InternalError` is a bug.

#![no_main]

use libfuzzer_sys::fuzz_target;
use runbook::{parse, source};

fuzz_target!(|bytes: &[u8]| {
    let Ok(file) = source::from_bytes("fuzz.rbk", bytes.to_vec()) else {
        return;
    };
    if let Err(internal) = parse::parse(&file) {
        panic!("{internal}");
    }
});
