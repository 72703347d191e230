//! What runs on the far side of an SSH connection: a small POSIX `sh` wrapper around
//! the step's command, and how its output is told apart from ssh's own.
//!
//! The command never travels on a command line. The remote login shell is given one
//! fixed wrapper; the command (with its environment as `export` lines) follows on
//! standard input, up to a line no command contains. So nothing the command holds can
//! be re-split or expanded by the remote shell, and secrets passed in the environment
//! show in no process list, on either machine.
//!
//! The wrapper then keeps reading its standard input, which stays open for as long as
//! the engine wants the command to run. When it closes (the engine stops the command,
//! or dies, or the connection drops), the wrapper stops the command's whole process
//! group: SIGTERM, then SIGKILL two seconds later, as the local executor does.
//!
//! Two markers on standard output let the engine tell "unreachable" and "connection
//! lost" apart from the command's own exit code 255, which ssh also uses for its own
//! failures: one before the command starts, and one with its exit code once it ends.
//! The second also ends the command for the engine when something it left running in
//! the background still holds the session open, as the local executor lets go of such
//! output after a moment.

/// The wrapper, run by `/bin/sh -c` with the end-of-command line as `$1` and the
/// folder to work in (or nothing) as `$2`. A command cut short (its input closed
/// before the end line) is not run. The command is `eval`ed in a subshell, not given
/// to a new `sh -c`, so that its text (and the secrets exported in it) is in no
/// process's arguments. A command killed by a signal ends with `128 + signal`, as a
/// shell reports it. The watcher reads a copy of standard input (fd 3): a background
/// job's own standard input is `/dev/null` before any redirection of it is made.
const WRAPPER: &str = r#"end=$1
script=
whole=
while IFS= read -r line; do
  if [ "$line" = "$end" ]; then whole=1; break; fi
  script="$script$line
"
done
[ -n "$whole" ] || exit 125
if [ -n "$2" ]; then cd "$2" || exit 126; fi
printf '\036runbook-started\n'
( unset end whole line; set --; eval "$script" ) </dev/null &
command=$!
script=
exec 3<&0
{ trap '' TERM; while IFS= read -r _; do :; done; kill -TERM 0; sleep 2; kill -KILL 0; } <&3 >/dev/null 2>&1 &
watch=$!
wait "$command"
code=$?
kill -KILL "$watch" 2>/dev/null
printf '\036runbook-exit-%d\n' "$code"
exit "$code""#;

/// Written by the wrapper before the command starts.
pub const STARTED: &[u8] = b"\x1erunbook-started\n";
/// Written by the wrapper when the command has ended, before its exit code and a
/// newline.
const EXITED: &[u8] = b"\x1erunbook-exit-";
/// How far into standard output the start marker is looked for: a login script may
/// print something first.
const STARTED_WITHIN: usize = 64 * 1024;
/// The longest exit code the end marker carries (`-2147483648`), and its newline.
const CODE_AND_NEWLINE: usize = 12;

/// The command line given to ssh for the remote login shell to run.
pub fn command_line(end: &str, folder: Option<&str>) -> String {
    format!(
        "exec /bin/sh -c {} runbook {} {}",
        single_quoted(WRAPPER),
        single_quoted(end),
        single_quoted(folder.unwrap_or(""))
    )
}

/// What is written to the wrapper's standard input: the environment as `export`
/// lines, the command, and the end line. The end line is chosen so that no line
/// before it is the same.
pub fn payload(
    env: &[(String, String)],
    script: &str,
    mut end_line: impl FnMut() -> String,
) -> (String, String) {
    let mut body = String::new();
    for (name, value) in env {
        if is_variable_name(name) {
            body.push_str(&format!("export {name}={}\n", single_quoted(value)));
        }
    }
    body.push_str(script);
    body.push('\n');
    let end = loop {
        let candidate = end_line();
        if !body.lines().any(|line| line == candidate) {
            break candidate;
        }
    };
    body.push_str(&end);
    body.push('\n');
    (body, end)
}

/// `value` as one word for a POSIX shell, whatever it holds.
pub fn single_quoted(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

fn is_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Standard output as it comes from ssh, with the wrapper's markers taken out. Bytes
/// that might be the start of the end marker are held back until more arrive or the
/// stream ends: only a `\x1e` begins it, which output hardly ever holds.
#[derive(Debug, Default)]
pub struct Markers {
    /// Output before the start marker has been seen (or ruled out).
    head: Vec<u8>,
    looking: bool,
    started: bool,
    tail: Vec<u8>,
    exit_code: Option<i32>,
}

impl Markers {
    pub fn new() -> Self {
        Markers {
            looking: true,
            ..Markers::default()
        }
    }

    /// Whether the wrapper said the command started.
    pub fn started(&self) -> bool {
        self.started
    }

    /// The command's exit code, once the wrapper has said it ended.
    pub fn exit_code(&self) -> Option<i32> {
        self.exit_code
    }

    /// Takes a piece of output; returns what can be shown of it now.
    pub fn take(&mut self, bytes: &[u8]) -> Vec<u8> {
        let mut bytes = bytes;
        let mut shown = Vec::new();
        let owned;
        if self.looking {
            self.head.extend_from_slice(bytes);
            if let Some(at) = find(&self.head, STARTED) {
                self.looking = false;
                self.started = true;
                shown.extend_from_slice(&self.head[..at]);
                owned = self.head.split_off(at + STARTED.len());
                self.head.clear();
                bytes = &owned;
            } else if self.head.len() >= STARTED_WITHIN {
                self.looking = false;
                shown.append(&mut self.head);
                return shown;
            } else {
                return shown;
            }
        }
        if self.exit_code.is_some() {
            // Output after the end: what the command left running wrote.
            shown.extend_from_slice(bytes);
            return shown;
        }
        self.tail.extend_from_slice(bytes);
        if let Some(at) = find(&self.tail, EXITED) {
            let rest = &self.tail[at + EXITED.len()..];
            match rest.iter().position(|&byte| byte == b'\n') {
                Some(newline) => {
                    let code = std::str::from_utf8(&rest[..newline])
                        .ok()
                        .and_then(|text| text.parse().ok());
                    if let Some(code) = code {
                        self.exit_code = Some(code);
                        shown.extend_from_slice(&self.tail[..at]);
                        shown.extend_from_slice(&rest[newline + 1..]);
                        self.tail.clear();
                        return shown;
                    }
                }
                None if rest.len() <= CODE_AND_NEWLINE => {
                    // The code is still coming.
                    shown.extend(self.tail.drain(..at));
                    return shown;
                }
                None => {}
            }
        }
        let keep = held_back(&self.tail);
        let release = self.tail.len() - keep;
        shown.extend(self.tail.drain(..release));
        shown
    }

    /// The stream has ended: whatever was held back.
    pub fn finish(&mut self) -> Vec<u8> {
        let mut rest = std::mem::take(&mut self.head);
        rest.append(&mut self.tail);
        rest
    }
}

/// How many bytes at the end of `tail` could be the beginning of the end marker.
fn held_back(tail: &[u8]) -> usize {
    (1..=EXITED.len().min(tail.len()))
        .rev()
        .find(|&length| EXITED.starts_with(&tail[tail.len() - length..]))
        .unwrap_or(0)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn through(pieces: &[&[u8]]) -> (Vec<u8>, Markers) {
        let mut markers = Markers::new();
        let mut shown = Vec::new();
        for piece in pieces {
            shown.extend(markers.take(piece));
        }
        shown.extend(markers.finish());
        (shown, markers)
    }

    #[test]
    fn the_markers_are_taken_out_however_the_output_is_cut() {
        let mut whole = Vec::new();
        whole.extend_from_slice(b"motd\n");
        whole.extend_from_slice(STARTED);
        whole.extend_from_slice(b"hello\nworld");
        whole.extend_from_slice(b"\x1erunbook-exit-255\nlate\n");
        for cut in 0..whole.len() {
            for second in cut..whole.len() {
                let (shown, markers) =
                    through(&[&whole[..cut], &whole[cut..second], &whole[second..]]);
                assert_eq!(
                    String::from_utf8_lossy(&shown),
                    "motd\nhello\nworldlate\n",
                    "cut at {cut}, {second}"
                );
                assert!(markers.started(), "cut at {cut}, {second}");
                assert_eq!(markers.exit_code(), Some(255), "cut at {cut}, {second}");
            }
        }
    }

    #[test]
    fn output_without_markers_is_shown_as_it_is() {
        let (shown, markers) = through(&[b"ssh: connect to host x port 22: refused\n"]);
        assert_eq!(shown, b"ssh: connect to host x port 22: refused\n");
        assert!(!markers.started());
        assert_eq!(markers.exit_code(), None);
        // Started, but the connection dropped: no end marker.
        let (shown, markers) = through(&[STARTED, b"half\n"]);
        assert_eq!(shown, b"half\n");
        assert!(markers.started() && markers.exit_code().is_none());
    }

    #[test]
    fn each_line_is_shown_as_it_comes() {
        let mut markers = Markers::new();
        assert_eq!(markers.take(STARTED), b"");
        assert_eq!(markers.take(b"first\n"), b"first\n");
        assert_eq!(markers.take(b"no newline yet"), b"no newline yet");
    }

    #[test]
    fn something_like_the_end_marker_is_output() {
        let mut whole = STARTED.to_vec();
        whole.extend_from_slice(b"\x1erunbook-exit-soon\n");
        let (shown, markers) = through(&[&whole]);
        assert_eq!(markers.exit_code(), None);
        assert_eq!(shown, b"\x1erunbook-exit-soon\n");
    }

    #[test]
    fn the_end_line_is_never_a_line_of_the_command() {
        let mut candidates = vec![
            "echo".to_string(),
            "x".to_string(),
            "runbook-end-2".to_string(),
        ]
        .into_iter();
        let (body, end) = payload(&[], "echo\nx", || candidates.next().unwrap());
        assert_eq!(end, "runbook-end-2");
        assert_eq!(body, "echo\nx\nrunbook-end-2\n");
    }

    #[test]
    fn values_are_single_quoted_and_odd_names_left_out() {
        let env = [
            ("RUNBOOK_HOST".to_string(), "it's $(here)".to_string()),
            ("NOT A NAME".to_string(), "x".to_string()),
        ];
        let (body, _) = payload(&env, "true", || "end".to_string());
        assert_eq!(body, "export RUNBOOK_HOST='it'\\''s $(here)'\ntrue\nend\n");
    }
}
