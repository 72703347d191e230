# Shared by the stand-ins in bin/: where the calling host keeps its state, the call
# log, and holds. Sourced, never run.

: "${DEMO_HOSTS:?DEMO_HOSTS must name the folder the demo hosts keep their state in}"
previous_kernel=${DEMO_PREVIOUS_KERNEL:-5.14.0-427.el9}

# The folder of host $1, made on first use: running the previous kernel, booting it
# next, in the load balancer's pool, its jobs running.
host_dir() {
    dir="$DEMO_HOSTS/hosts/$1"
    if [ ! -d "$dir" ]; then
        mkdir -p "$dir"
        echo "$previous_kernel" > "$dir/kernel"
        echo "$previous_kernel" > "$dir/default"
        echo in > "$dir/pool"
        echo running > "$dir/jobs"
    fi
    printf '%s\n' "$dir"
}

# The host this command runs for; a stand-in that acts on a host needs one.
this_host() {
    : "${RUNBOOK_HOST:?$(basename "$0"): no RUNBOOK_HOST: this stand-in acts on a host}"
    host_dir "$RUNBOOK_HOST"
}

# Appends one line to the call log: host (or -), tool, arguments.
called() {
    printf '%s %s %s\n' "${RUNBOOK_HOST:--}" "$(basename "$0")" "$*" >> "$DEMO_HOSTS/calls.log"
}

# Waits while DIR/hold/$1 exists.
hold() {
    while [ -e "$DEMO_HOSTS/hold/$1" ]; do
        sleep 0.1
    done
}
