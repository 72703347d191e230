/// A part of the document that the format may wrap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Region<'a> {
    /// The run's title and facts.
    Header,
    /// A section with its heading; `id` names it for links.
    Section { id: &'a str, title: &'a str },
    /// One command in the Commands section, numbered from 1.
    Command { number: usize },
}
