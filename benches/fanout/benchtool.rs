//! The measuring helper of benches/fanout-vs-ansible.sh, built by that script with a
//! plain `rustc -O` (std only, no crate, nothing in Cargo.toml). Two subcommands:
//!
//! `benchtool measure OUT -- CMD ARG...`
//!     Runs CMD and writes one line to OUT:
//!     `wall_s=.. maxrss_kb=.. tree_pss_kb=.. tree_rss_kb=.. tree_procs=.. samples=.. exit=..`
//!     - `wall_s`: from just before the spawn to the moment the command's own process
//!       is reaped (a monotonic clock).
//!     - `maxrss_kb`: `ru_maxrss` of the `wait4` that reaps CMD, which is what GNU time
//!       prints as `%M`: the largest resident set of CMD's own process or of any single
//!       descendant it (or its descendants) waited for. One process, never a sum.
//!     - `tree_pss_kb`, `tree_rss_kb`: the highest total, over samples, of the
//!       proportional (PSS) and resident (RSS) sizes of every process below this helper,
//!       read from /proc/PID/smaps_rollup. PSS shares each page among the processes
//!       mapping it, so forks sharing their parent's pages (Ansible's workers) are not
//!       counted twice; RSS counts them in every process. The helper makes itself a
//!       child subreaper, so what daemonizes (ssh's ControlPersist masters) stays in
//!       the tree and is counted. A process sharing its parent's address space (a
//!       vfork child before its exec, by `kcmp`) is not counted again. Sampling: after each sample the helper sleeps for 19
//!       times what the sample took, and at least 5 ms, so it takes at most about 5% of
//!       one core; a process living between two samples is missed, and a run of a
//!       few samples may miss its peak (ru_maxrss does not).
//!     - `tree_procs`: the most processes seen at once in that tree.
//!     - `exit`: CMD's exit status (128 + N for a signal).
//!     Once OUT is written, the helper stays until every process left in its tree has
//!     ended, reaping them (the caller closes ssh's masters meanwhile).
//!
//! `benchtool floor WAVES PARALLEL EVENTS EVENT_BYTES LOG -- CMD ARG...`
//!     The physical floor of a rollout: WAVES is the hosts per wave (`1,9,20,70`); in
//!     each wave, CMD is spawned once per host, at most PARALLEL at a time, and the
//!     wave ends when all its commands have (as a rollout waits for a wave before the
//!     next). Beside them, EVENTS appends of EVENT_BYTES bytes to LOG, each followed by
//!     `fdatasync`, spread evenly over the 2 x hosts points where a host's command
//!     starts or ends (the appends due at a start are synced before that spawn, as a
//!     log committed before the effect). One thread, one loop: spawn, append, reap
//!     (`waitpid(-1)`). Output of the commands goes to /dev/null. Exits 1 if any
//!     command failed, saying how many.

use std::collections::HashMap;
use std::ffi::c_int;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[repr(C)]
#[derive(Default)]
struct Rusage {
    utime: [i64; 2],
    stime: [i64; 2],
    // ru_maxrss first, then the 13 other longs of struct rusage.
    longs: [i64; 14],
}

extern "C" {
    fn wait4(pid: c_int, status: *mut c_int, options: c_int, rusage: *mut Rusage) -> c_int;
    fn prctl(option: c_int, arg2: u64, arg3: u64, arg4: u64, arg5: u64) -> c_int;
    fn getpid() -> c_int;
    fn getrusage(who: c_int, usage: *mut Rusage) -> c_int;
    fn syscall(number: i64, ...) -> i64;
}

const SYS_KCMP: i64 = 312; // x86_64
const KCMP_VM: i64 = 1;

/// Whether two processes share one address space: a vfork child before its exec
/// (how std and posix_spawn start a program) reads as a copy of its parent's memory,
/// which is not memory of its own.
fn same_memory(a: i32, b: i32) -> bool {
    unsafe { syscall(SYS_KCMP, a as i64, b as i64, KCMP_VM, 0i64, 0i64) == 0 }
}

const WNOHANG: c_int = 1;
const RUSAGE_CHILDREN: c_int = -1;
const PR_SET_CHILD_SUBREAPER: c_int = 36;

fn die(message: &str) -> ! {
    eprintln!("benchtool: {message}");
    std::process::exit(2);
}

fn exit_code(status: c_int) -> i32 {
    // The encoding of waitpid's status on Linux.
    if status & 0x7f == 0 {
        (status >> 8) & 0xff
    } else {
        128 + (status & 0x7f)
    }
}

/// Every process whose chain of parents reaches `root`, not `root` itself, with its
/// parent.
fn descendants(root: i32) -> Vec<(i32, i32)> {
    let mut children: HashMap<i32, Vec<i32>> = HashMap::new();
    if let Ok(entries) = fs::read_dir("/proc") {
        let mut buf = String::new();
        for entry in entries.flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
                continue;
            };
            buf.clear();
            let Ok(mut file) = File::open(format!("/proc/{pid}/stat")) else { continue };
            if file.read_to_string(&mut buf).is_err() {
                continue;
            }
            // pid (comm) state ppid ...: comm may hold spaces and parentheses.
            let Some(after) = buf.rfind(')').map(|i| &buf[i + 1..]) else { continue };
            let mut fields = after.split_whitespace();
            let state = fields.next().unwrap_or("");
            let ppid = fields.next().and_then(|s| s.parse::<i32>().ok()).unwrap_or(0);
            if state != "Z" {
                children.entry(ppid).or_default().push(pid);
            }
        }
    }
    let mut found = Vec::new();
    let mut next = vec![root];
    while let Some(pid) = next.pop() {
        if let Some(kids) = children.get(&pid) {
            found.extend(kids.iter().map(|&kid| (kid, pid)));
            next.extend_from_slice(kids);
        }
    }
    found
}

/// (PSS, RSS) in kB of one process, from smaps_rollup; None once it is gone.
fn pss_rss(pid: i32) -> Option<(u64, u64)> {
    let text = fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    let field = |name: &str| {
        text.lines()
            .find(|line| line.starts_with(name))
            .and_then(|line| line.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
    };
    Some((field("Pss:")?, field("Rss:")?))
}

fn measure(args: &[String]) {
    let (out, command) = match args {
        [out, dashdash, command @ ..] if dashdash == "--" && !command.is_empty() => (out, command),
        _ => die("usage: benchtool measure OUT -- CMD ARG..."),
    };
    // Orphans of the command (daemonized ssh masters) become our children, so they
    // stay in the tree we sample.
    unsafe { prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    let me = unsafe { getpid() };
    let start = Instant::now();
    let child = Command::new(&command[0])
        .args(&command[1..])
        .spawn()
        .unwrap_or_else(|e| die(&format!("cannot run {}: {e}", command[0])));
    let pid = child.id() as c_int;
    let (mut peak_pss, mut peak_rss, mut peak_procs, mut samples) = (0u64, 0u64, 0usize, 0u64);
    let mut sampling = Duration::ZERO;
    let (wall, maxrss, status) = 'outer: loop {
        // Reap whatever ended: the command (done) or an orphan handed to us.
        loop {
            let mut status = 0;
            let mut usage = Rusage::default();
            let reaped = unsafe { wait4(-1, &mut status, WNOHANG, &mut usage) };
            if reaped == pid {
                break 'outer (start.elapsed(), usage.longs[0], status);
            }
            if reaped <= 0 {
                break;
            }
        }
        let began = Instant::now();
        let procs = descendants(me);
        let (mut pss, mut rss) = (0, 0);
        for &(p, parent) in &procs {
            if same_memory(p, parent) {
                continue;
            }
            if let Some((a, b)) = pss_rss(p) {
                pss += a;
                rss += b;
            }
        }
        samples += 1;
        peak_pss = peak_pss.max(pss);
        peak_rss = peak_rss.max(rss);
        peak_procs = peak_procs.max(procs.len());
        let took = began.elapsed();
        sampling += took;
        std::thread::sleep((took * 19).max(Duration::from_millis(5)));
    };
    drop(child);
    let line = format!(
        "wall_s={:.3} maxrss_kb={} tree_pss_kb={} tree_rss_kb={} tree_procs={} samples={} sample_ms={:.2} exit={}\n",
        wall.as_secs_f64(),
        maxrss,
        peak_pss,
        peak_rss,
        peak_procs,
        samples,
        sampling.as_secs_f64() * 1e3 / samples.max(1) as f64,
        exit_code(status)
    );
    // Written beside and renamed, so a reader polling for OUT sees all of it or nothing.
    let partial = format!("{out}.partial");
    fs::write(&partial, line).unwrap_or_else(|e| die(&format!("cannot write {partial}: {e}")));
    fs::rename(&partial, out).unwrap_or_else(|e| die(&format!("cannot write {out}: {e}")));
    // Then stay, reaping what the command left behind (ssh masters told to exit by the
    // caller), until no child is left: as a subreaper, they are ours to reap.
    loop {
        let mut status = 0;
        let mut usage = Rusage::default();
        if unsafe { wait4(-1, &mut status, 0, &mut usage) } <= 0 {
            break;
        }
    }
    // The CPU time of the whole tree, now that all of it is reaped: the command, every
    // process it waited for, and the orphans handed to us (Ansible's masters do the
    // handshakes). Our own sampling is not in it. In OUT.cpu, since OUT is read (and
    // the masters closed) before we get here.
    let mut usage = Rusage::default();
    unsafe { getrusage(RUSAGE_CHILDREN, &mut usage) };
    let seconds = |t: [i64; 2]| t[0] as f64 + t[1] as f64 / 1e6;
    let cpu = format!("cpu_s={:.3}\n", seconds(usage.utime) + seconds(usage.stime));
    let partial = format!("{out}.cpu.partial");
    fs::write(&partial, cpu).unwrap_or_else(|e| die(&format!("cannot write {partial}: {e}")));
    fs::rename(&partial, format!("{out}.cpu")).unwrap_or_else(|e| die(&format!("cannot write {out}.cpu: {e}")));
}

fn floor(args: &[String]) {
    let (waves, parallel, events, event_bytes, log, command) = match args {
        [waves, parallel, events, bytes, log, dashdash, command @ ..]
            if dashdash == "--" && !command.is_empty() =>
        {
            let waves: Vec<usize> = waves
                .split(',')
                .map(|w| w.parse().unwrap_or_else(|_| die("WAVES: sizes such as 1,9,20,70")))
                .collect();
            let number = |s: &String| s.parse::<usize>().unwrap_or_else(|_| die("not a number"));
            (waves, number(parallel).max(1), number(events), number(bytes), log, command)
        }
        _ => die("usage: benchtool floor WAVES PARALLEL EVENTS EVENT_BYTES LOG -- CMD ARG..."),
    };
    let hosts: usize = waves.iter().sum();
    let points = 2 * hosts;
    let mut log = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(log)
        .unwrap_or_else(|e| die(&format!("cannot open {log}: {e}")));
    let mut record = vec![b'x'; event_bytes.max(1)];
    *record.last_mut().unwrap() = b'\n';
    // The appends due at point k (0..points): E spread evenly, in whole events.
    let mut point = 0usize;
    let append_due = |log: &mut File, point: &mut usize| {
        let due = (*point + 1) * events / points - *point * events / points;
        for _ in 0..due {
            log.write_all(&record).unwrap_or_else(|e| die(&format!("write: {e}")));
            log.sync_data().unwrap_or_else(|e| die(&format!("fdatasync: {e}")));
        }
        *point += 1;
    };
    let mut failed = 0usize;
    for size in waves {
        let (mut started, mut running) = (0usize, 0usize);
        while started < size || running > 0 {
            while started < size && running < parallel {
                append_due(&mut log, &mut point);
                let child = Command::new(&command[0])
                    .args(&command[1..])
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap_or_else(|e| die(&format!("cannot run {}: {e}", command[0])));
                // Reaped below with waitpid(-1); dropping a Child neither waits nor kills.
                drop(child);
                started += 1;
                running += 1;
            }
            let mut status = 0;
            let mut usage = Rusage::default();
            let reaped = unsafe { wait4(-1, &mut status, 0, &mut usage) };
            if reaped <= 0 {
                die("wait4 failed");
            }
            if status != 0 {
                failed += 1;
            }
            running -= 1;
            append_due(&mut log, &mut point);
        }
    }
    if failed > 0 {
        eprintln!("benchtool: {failed} of {hosts} commands failed");
        std::process::exit(1);
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("measure") => measure(&args[1..]),
        Some("floor") => floor(&args[1..]),
        _ => die("usage: benchtool measure|floor ..."),
    }
}
