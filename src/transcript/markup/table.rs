/// What a table is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table<'a> {
    /// Names and values, each row headed by its name; no column headings.
    Facts,
    /// Columns under their headings.
    Columns(&'a [&'a str]),
    /// Columns under their headings, the table named by a caption.
    Captioned {
        caption: &'a str,
        columns: &'a [&'a str],
    },
}
