/// How a block or a cell looks, where the format can show it; only `Bad` is marked in
/// every format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Look {
    Plain,
    /// A time, kept on one line.
    Time,
    /// Text whose line breaks are kept.
    Lines,
    Good,
    Bad,
    /// Neither good nor bad: undecided, or an aside.
    Muted,
}
