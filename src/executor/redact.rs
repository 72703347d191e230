//! Redaction of secret values from everything a run writes or shows.
//!
//! Secrets are read when a run starts and handed to commands, and a command may
//! echo one. So every byte of command output (and any other text built from run
//! data) goes through a [`Redactor`] before it reaches the event log, the saved
//! output, the transcript, progress lines or JSON output.
//!
//! Matching rule, the same for whole texts and for streams: scanning left to
//! right, the leftmost occurrence of any secret starts a region (at equal starts
//! the longest secret wins, so a secret containing another is replaced whole);
//! the region then grows to swallow every occurrence that overlaps it, so two
//! overlapping secrets (or overlapping repeats of one, like `aaaa` in `aaaaa`)
//! leave no fragment of either visible. Each region becomes `[secret NAME]`,
//! NAME being the secret that started it.
//!
//! Matching is done on bytes, so output that is not UTF-8 is redacted too.
//! The search is a plain loop over the secrets: a runbook declares few.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

/// Secrets shorter than this many bytes are not matched: a 1-character secret
/// would redact every occurrence of that character, turning all output into
/// noise (and revealing the secret by where the replacements land). Callers
/// should warn about them; see [`Redactor::ignored`].
pub const MIN_SECRET_LEN: usize = 4;

/// Replaces secret values in text and bytes. Cheap to clone (shared inside).
#[derive(Clone, Default)]
pub struct Redactor {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Matched secrets, longest first (then by name, for a stable choice
    /// between secrets of equal length).
    secrets: Vec<Secret>,
    /// Names of secrets too short (or empty) to be matched.
    ignored: Vec<String>,
    /// Length of the longest matched secret, 0 when there is none.
    max_len: usize,
}

struct Secret {
    value: Vec<u8>,
    /// `[secret NAME]`, built once.
    replacement: Vec<u8>,
}

/// Never prints values: a `{:?}` of a run's state must not leak them.
impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Redactor")
            .field("secrets", &self.inner.secrets.len())
            .field("ignored", &self.inner.ignored)
            .finish()
    }
}

/// Where a scan stopped. Positions are indexes into the scanned buffer.
struct Scan {
    /// Bytes before this are already in the output (or replaced).
    copied: usize,
    /// Bytes before this are decided: `copied..done` is plain text to copy.
    done: usize,
    /// A region started and was replaced but may still grow: it ends at `done`
    /// as far as the bytes seen so far tell.
    open: bool,
}

impl Redactor {
    /// Builds a redactor from `(name, value)` pairs. Values shorter than
    /// [`MIN_SECRET_LEN`] bytes are not matched but listed by [`Self::ignored`].
    pub fn new(secrets: Vec<(String, String)>) -> Redactor {
        let mut matched = Vec::new();
        let mut ignored = Vec::new();
        for (name, value) in secrets {
            if value.len() < MIN_SECRET_LEN {
                ignored.push(name);
            } else {
                matched.push((name, value));
            }
        }
        // Longest first, so that at equal starts the longer secret wins.
        matched.sort_by(|(an, av), (bn, bv)| bv.len().cmp(&av.len()).then_with(|| an.cmp(bn)));
        let max_len = matched.first().map_or(0, |(_, v)| v.len());
        let secrets = matched
            .into_iter()
            .map(|(name, value)| Secret {
                replacement: format!("[secret {name}]").into_bytes(),
                value: value.into_bytes(),
            })
            .collect();
        Redactor {
            inner: Arc::new(Inner {
                secrets,
                ignored,
                max_len,
            }),
        }
    }

    /// True when nothing will ever be replaced, so callers can skip the work.
    pub fn is_empty(&self) -> bool {
        self.inner.secrets.is_empty()
    }

    /// Names of secrets whose values are empty or shorter than
    /// [`MIN_SECRET_LEN`] bytes: not redacted, so worth a warning.
    pub fn ignored(&self) -> impl Iterator<Item = &str> {
        self.inner.ignored.iter().map(String::as_str)
    }

    /// Redacts a text; borrows it unchanged (no allocation) when nothing matches.
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        match self.redact_bytes(text.as_bytes()) {
            Cow::Borrowed(_) => Cow::Borrowed(text),
            // Secret values are UTF-8, and a UTF-8 needle can only match a UTF-8
            // haystack at character boundaries, so cutting out matches keeps the
            // text valid. The lossy fallback only avoids a panic path.
            Cow::Owned(bytes) => Cow::Owned(
                String::from_utf8(bytes)
                    .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
            ),
        }
    }

    /// Redacts raw output that may not be UTF-8; borrows it when nothing matches.
    pub fn redact_bytes<'a>(&self, bytes: &'a [u8]) -> Cow<'a, [u8]> {
        if self.is_empty() {
            return Cow::Borrowed(bytes);
        }
        let mut out = Vec::new();
        let scan = self.scan(bytes, 0, false, true, &mut out);
        // Every replacement is non-empty, so an empty output means no match.
        if out.is_empty() {
            return Cow::Borrowed(bytes);
        }
        out.extend_from_slice(bytes.get(scan.copied..).unwrap_or_default());
        Cow::Owned(out)
    }

    /// A redactor for output that arrives in chunks.
    pub fn stream(&self) -> StreamRedactor {
        StreamRedactor {
            redactor: self.clone(),
            buf: Vec::new(),
            done: 0,
            open: false,
        }
    }

    /// The one matching loop, shared by whole and chunked redaction.
    ///
    /// Scans `hay` from `pos`, which is either a clean point (every match that
    /// starts before it also ends by it) or, if `open`, the current end of an
    /// already replaced region. Replacements and the plain bytes before them go
    /// to `out`. When `complete` is false more bytes may follow `hay`, so only
    /// what they cannot change is decided: a match not yet seen ends past the
    /// buffer, so starts at or after `safe` (the last `max_len - 1` bytes).
    fn scan(
        &self,
        hay: &[u8],
        mut pos: usize,
        open: bool,
        complete: bool,
        out: &mut Vec<u8>,
    ) -> Scan {
        let safe = if complete {
            hay.len()
        } else {
            hay.len()
                .saturating_sub(self.inner.max_len.saturating_sub(1))
        };
        if open {
            // A match may start anywhere in the kept look-back; none can start
            // before the region (it would have been found when it started).
            let end = self.extend(hay, 0, pos);
            if end > safe {
                return Scan {
                    copied: end,
                    done: end,
                    open: true,
                };
            }
            pos = end;
        }
        let mut copied = pos;
        let mut next = vec![None; self.inner.secrets.len()];
        loop {
            match self.leftmost(hay, pos, &mut next) {
                // A start before `safe` is final: every match starting there or
                // earlier lies wholly within the bytes seen.
                Some((start, i)) if start < safe => {
                    let secret = &self.inner.secrets[i];
                    out.extend_from_slice(hay.get(copied..start).unwrap_or_default());
                    out.extend_from_slice(&secret.replacement);
                    let end = self.extend(hay, start, start + secret.value.len());
                    pos = end;
                    copied = end;
                    // The region's end is final once the bytes that could hold
                    // an overlapping match have all been seen.
                    if end > safe {
                        return Scan {
                            copied,
                            done: end,
                            open: true,
                        };
                    }
                }
                _ => {
                    return Scan {
                        copied,
                        done: safe.max(pos),
                        open: false,
                    }
                }
            }
        }
    }

    /// The leftmost match starting at or after `pos`, longest at equal starts,
    /// as (start, secret index). `next` caches each secret's next occurrence
    /// (`usize::MAX` for none), so a long text is scanned about once per secret.
    fn leftmost(
        &self,
        hay: &[u8],
        pos: usize,
        next: &mut [Option<usize>],
    ) -> Option<(usize, usize)> {
        let mut best: Option<(usize, usize)> = None;
        for (i, (secret, cached)) in self.inner.secrets.iter().zip(next.iter_mut()).enumerate() {
            let at = match *cached {
                Some(at) if at >= pos => at,
                _ => {
                    let at = hay
                        .get(pos..)
                        .and_then(|rest| find(rest, &secret.value))
                        .map_or(usize::MAX, |j| pos + j);
                    *cached = Some(at);
                    at
                }
            };
            // Strictly smaller: at equal starts the earlier (longer) one stays.
            if at != usize::MAX && best.is_none_or(|(b, _)| at < b) {
                best = Some((at, i));
            }
        }
        best
    }

    /// Grows the region `floor..end` over every match that starts inside it and
    /// ends past it, until none does; returns the final end. Only bytes in
    /// `hay` are looked at; a caller with more to come checks the result.
    fn extend(&self, hay: &[u8], floor: usize, mut end: usize) -> usize {
        loop {
            let mut grew = false;
            for secret in &self.inner.secrets {
                let len = secret.value.len();
                // Starts in `end + 1 - len .. end` are the ones that cross `end`.
                let lo = floor.max((end + 1).saturating_sub(len));
                let hi = hay.len().min(end + len - 1);
                if let Some(j) = hay.get(lo..hi).and_then(|w| find(w, &secret.value)) {
                    end = lo + j + len;
                    grew = true;
                }
            }
            if !grew {
                return end;
            }
        }
    }
}

/// Redacts output that arrives in chunks, giving the same result as redacting
/// the whole output at once however it is split. It holds back at most
/// (longest secret length - 1) trailing bytes, which could be the start of a
/// secret cut by a chunk boundary.
#[derive(Debug)]
pub struct StreamRedactor {
    redactor: Redactor,
    /// Bytes not yet decided, after some already-decided look-back bytes that
    /// an open region needs to find matches overlapping its end.
    buf: Vec<u8>,
    /// Bytes of `buf` before this are decided (emitted or replaced).
    done: usize,
    /// The last region is replaced but may still grow (ends at `done`).
    open: bool,
}

impl StreamRedactor {
    /// True when the redactor has no secrets: chunks pass through unchanged.
    pub fn is_empty(&self) -> bool {
        self.redactor.is_empty()
    }

    /// Takes the next chunk; returns the redacted bytes safe to emit now.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<u8> {
        if self.is_empty() {
            return chunk.to_vec();
        }
        self.buf.extend_from_slice(chunk);
        let mut out = Vec::new();
        let scan = self
            .redactor
            .scan(&self.buf, self.done, self.open, false, &mut out);
        out.extend_from_slice(self.buf.get(scan.copied..scan.done).unwrap_or_default());
        self.done = scan.done;
        self.open = scan.open;
        // An open region needs the bytes before its end to find matches that
        // overlap it; otherwise the next scan starts at `done` and needs none.
        let keep_from = if self.open {
            self.done
                .saturating_sub(self.redactor.inner.max_len.saturating_sub(1))
        } else {
            self.done
        };
        self.buf.drain(..keep_from.min(self.buf.len()));
        self.done -= keep_from.min(self.done);
        out
    }

    /// Ends the stream; returns the held-back bytes, redacted.
    pub fn finish(self) -> Vec<u8> {
        if self.is_empty() {
            return self.buf;
        }
        let mut out = Vec::new();
        let scan = self
            .redactor
            .scan(&self.buf, self.done, self.open, true, &mut out);
        out.extend_from_slice(self.buf.get(scan.copied..).unwrap_or_default());
        out
    }
}

/// First occurrence of `needle` in `hay`. Naive (scan for the first byte, then
/// compare): secrets are short, and `memchr` is not a dependency here.
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    let (&first, rest) = needle.split_first()?;
    let last_start = hay.len().checked_sub(needle.len())?;
    let mut from = 0;
    while from <= last_start {
        let at = from + hay[from..=last_start].iter().position(|&b| b == first)?;
        if hay[at + 1..at + needle.len()] == *rest {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn redactor(secrets: &[(&str, &str)]) -> Redactor {
        Redactor::new(
            secrets
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
        )
    }

    fn chunked(r: &Redactor, chunks: &[&[u8]]) -> Vec<u8> {
        let mut s = r.stream();
        let mut out = Vec::new();
        for c in chunks {
            out.extend(s.push(c));
        }
        out.extend(s.finish());
        out
    }

    /// Every way of cutting `input` in two and three pieces matches the whole.
    fn assert_all_splits(r: &Redactor, input: &[u8]) {
        let whole = r.redact_bytes(input).into_owned();
        for i in 0..=input.len() {
            assert_eq!(
                chunked(r, &[&input[..i], &input[i..]]),
                whole,
                "split at {i}"
            );
            for j in i..=input.len() {
                let got = chunked(r, &[&input[..i], &input[i..j], &input[j..]]);
                assert_eq!(got, whole, "split at {i}, {j}");
            }
        }
    }

    #[test]
    fn replaces_a_secret_with_its_name() {
        let r = redactor(&[("db_password", "hunter22")]);
        assert_eq!(r.redact("pw=hunter22;"), "pw=[secret db_password];");
    }

    #[test]
    fn repeated_secrets_are_all_replaced() {
        let r = redactor(&[("pw", "hunter22")]);
        assert_eq!(
            r.redact("hunter22hunter22 and hunter22"),
            "[secret pw][secret pw] and [secret pw]"
        );
    }

    #[test]
    fn a_secret_containing_another_is_replaced_whole() {
        let r = redactor(&[("short", "cret"), ("long", "secret-token")]);
        assert_eq!(
            r.redact("x secret-token y cret"),
            "x [secret long] y [secret short]"
        );
        let r = redactor(&[("inner", "abcd"), ("outer", "xxabcdyy")]);
        assert_eq!(r.redact("xxabcdyy"), "[secret outer]");
    }

    #[test]
    fn overlapping_secrets_leave_no_fragment() {
        let r = redactor(&[("a", "abcd"), ("b", "cdefgh")]);
        assert_eq!(r.redact("1abcdefgh2"), "1[secret a]2");
        // Self-overlapping repeats are one region, not a secret plus a tail.
        let r = redactor(&[("a", "aaaa")]);
        assert_eq!(r.redact("aaaaaa b"), "[secret a] b");
        // A chain of overlaps is one region.
        let r = redactor(&[("a", "abcd"), ("b", "cdef"), ("c", "efgh")]);
        assert_eq!(r.redact("abcdefgh"), "[secret a]");
    }

    #[test]
    fn secret_split_across_chunk_boundaries() {
        let r = redactor(&[("pw", "hunter22"), ("tok", "t0k3n")]);
        let input = b"start hunter22 mid t0k3nhunter22 end hunt";
        assert_all_splits(&r, input);
        assert_eq!(
            chunked(&r, &[b"xx hun", b"ter", b"22 yy"]),
            b"xx [secret pw] yy".to_vec()
        );
        let r = redactor(&[("a", "abcd"), ("b", "cdefgh")]);
        assert_all_splits(&r, b"zabcdefghabcdefz");
    }

    #[test]
    fn secrets_sharing_a_prefix_at_chunk_boundaries() {
        // At a boundary inside "abcde", "abcd" is whole but must not be chosen
        // until it is known whether the longer "abcde" is there.
        let r = redactor(&[("short", "abcd"), ("long", "abcde")]);
        assert_eq!(r.redact("abcde abcd"), "[secret long] [secret short]");
        assert_all_splits(&r, b"abcde abcd abcdabcde");
        let r = redactor(&[("short", "bcde"), ("long", "abcde")]);
        assert_all_splits(&r, b"abcde bcde abcdabcde");
    }

    #[test]
    fn stream_holds_back_only_a_possible_secret_prefix() {
        let r = redactor(&[("pw", "hunter22")]);
        let mut s = r.stream();
        // Nothing there could start a secret past the last 7 bytes.
        assert_eq!(s.push(b"0123456789abcdefg"), b"0123456789".to_vec());
        assert_eq!(s.push(b"hun"), b"abc".to_vec());
        assert_eq!(s.push(b"ter22!"), b"defg[secret pw]".to_vec());
        assert_eq!(s.finish(), b"!".to_vec());
    }

    #[test]
    fn non_utf8_bytes_around_a_secret() {
        let r = redactor(&[("pw", "pässwörd")]);
        let mut input = vec![0xff, 0xfe, b'x'];
        input.extend_from_slice("pässwörd".as_bytes());
        input.extend_from_slice(&[0xc3, 0x80, 0xc3]);
        let mut expected = vec![0xff, 0xfe, b'x'];
        expected.extend_from_slice(b"[secret pw]");
        expected.extend_from_slice(&[0xc3, 0x80, 0xc3]);
        assert_eq!(r.redact_bytes(&input).into_owned(), expected);
        assert_all_splits(&r, &input);
    }

    #[test]
    fn nothing_matching_borrows() {
        let empty = Redactor::new(Vec::new());
        assert!(empty.is_empty());
        assert!(matches!(
            empty.redact("some text"),
            Cow::Borrowed("some text")
        ));
        assert!(matches!(
            empty.redact_bytes(b"\xff"),
            Cow::Borrowed(b"\xff")
        ));
        assert_eq!(chunked(&empty, &[b"a", b"\xffb"]), b"a\xffb".to_vec());
        let r = redactor(&[("pw", "hunter22")]);
        assert!(matches!(r.redact("hunter2"), Cow::Borrowed("hunter2")));
    }

    #[test]
    fn short_secrets_are_ignored_and_named() {
        let r = redactor(&[
            ("one", "x"),
            ("none", ""),
            ("three", "abc"),
            ("four", "abcd"),
        ]);
        assert!(!r.is_empty());
        assert_eq!(r.ignored().collect::<Vec<_>>(), ["one", "none", "three"]);
        assert_eq!(r.redact("x abc abcd"), "x abc [secret four]");
        let r = redactor(&[("one", "x")]);
        assert!(r.is_empty());
        assert!(matches!(r.redact("xxx"), Cow::Borrowed("xxx")));
    }

    #[test]
    fn debug_does_not_show_values() {
        let r = redactor(&[("pw", "hunter22")]);
        assert!(!format!("{r:?}").contains("hunter22"));
        assert!(!format!("{:?}", r.stream()).contains("hunter22"));
    }

    #[test]
    fn find_edges() {
        assert_eq!(find(b"", b"ab"), None);
        assert_eq!(find(b"ab", b""), None);
        assert_eq!(find(b"a", b"ab"), None);
        assert_eq!(find(b"aab", b"ab"), Some(1));
        assert_eq!(find(b"abab", b"ab"), Some(0));
        assert_eq!(find(b"xxab", b"ab"), Some(2));
    }

    /// Secrets from a small alphabet (with a two-byte character, so fragments
    /// cut characters), some too short to be matched. Each secret after the
    /// first may be built from a piece of the one before plus a random tail, so
    /// that secrets often share prefixes or overlap: the cases that matter.
    fn secrets() -> impl Strategy<Value = Vec<(String, String)>> {
        let chars = || prop::collection::vec(prop::sample::select(vec!['a', 'b', 'x', 'é']), 0..9);
        let spec = (any::<bool>(), any::<usize>(), any::<usize>(), chars());
        prop::collection::vec(spec, 1..5).prop_map(|specs| {
            let mut values: Vec<Vec<char>> = Vec::new();
            for (derive, a, b, tail) in specs {
                let mut value = Vec::new();
                if let (true, Some(prev)) = (derive, values.last()) {
                    // Mostly a prefix or a suffix of the previous secret.
                    let (a, b) = (a % (prev.len() + 1), b % (prev.len() + 1));
                    let (from, to) = match a % 3 {
                        0 => (0, b),
                        1 => (b, prev.len()),
                        _ => (a.min(b), a.max(b)),
                    };
                    value.extend_from_slice(&prev[from..to]);
                }
                value.extend(tail);
                value.truncate(9);
                values.push(value);
            }
            values
                .into_iter()
                .enumerate()
                .map(|(i, v)| (format!("s{i}"), v.into_iter().collect()))
                .collect()
        })
    }

    /// Input pieces: whole secrets, fragments of secrets, or random bytes.
    #[derive(Debug, Clone)]
    enum Piece {
        Whole(usize),
        Fragment(usize, usize, usize),
        Bytes(Vec<u8>),
    }

    fn piece() -> impl Strategy<Value = Piece> {
        prop_oneof![
            any::<usize>().prop_map(Piece::Whole),
            (any::<usize>(), any::<usize>(), any::<usize>())
                .prop_map(|(s, a, b)| Piece::Fragment(s, a, b)),
            prop::collection::vec(
                prop_oneof![
                    any::<u8>(),
                    prop::sample::select(vec![b'a', b'b', b'x', 0xc3, 0xa9])
                ],
                0..6
            )
            .prop_map(Piece::Bytes),
        ]
    }

    fn build(secrets: &[(String, String)], pieces: &[Piece]) -> Vec<u8> {
        let mut out = Vec::new();
        for p in pieces {
            match p {
                Piece::Whole(s) => out.extend_from_slice(secrets[s % secrets.len()].1.as_bytes()),
                Piece::Fragment(s, a, b) => {
                    let v = secrets[s % secrets.len()].1.as_bytes();
                    let (a, b) = (a % (v.len() + 1), b % (v.len() + 1));
                    out.extend_from_slice(&v[a.min(b)..a.max(b)]);
                }
                Piece::Bytes(bytes) => out.extend_from_slice(bytes),
            }
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]

        #[test]
        fn chunking_does_not_change_the_result(
            secrets in secrets(),
            pieces in prop::collection::vec(piece(), 0..12),
            cuts in prop::collection::vec(any::<usize>(), 0..6),
        ) {
            let r = Redactor::new(secrets.clone());
            let input = build(&secrets, &pieces);
            let whole = r.redact_bytes(&input).into_owned();

            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (input.len() + 1)).collect();
            cuts.sort_unstable();
            let mut stream = r.stream();
            let mut got = Vec::new();
            let mut from = 0;
            for cut in cuts.into_iter().chain([input.len()]) {
                let emitted = stream.push(&input[from..cut]);
                got.extend(emitted);
                from = cut;
                // Held back: never more than a secret's length minus one.
                let max_len = secrets.iter().map(|(_, v)| v.len()).filter(|&l| l >= MIN_SECRET_LEN).max().unwrap_or(1);
                prop_assert!(stream.buf.len() - stream.done < max_len);
            }
            got.extend(stream.finish());
            prop_assert_eq!(&got, &whole);

            // No matched secret survives (the alphabet shares no byte with the
            // replacement text, so none can be formed across one either).
            for (_, v) in &secrets {
                if v.len() >= MIN_SECRET_LEN {
                    prop_assert!(find(&whole, v.as_bytes()).is_none());
                }
            }

            // Text and bytes agree on valid UTF-8.
            if let Ok(text) = std::str::from_utf8(&input) {
                let redacted = r.redact(text);
                prop_assert_eq!(redacted.as_bytes(), &whole[..]);
            }
        }
    }
}
