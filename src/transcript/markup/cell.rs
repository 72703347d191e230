use super::Look;

/// One cell of a row: an inline piece, how it looks, and whether it heads its row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cell {
    pub inline: String,
    pub look: Look,
    pub heads_row: bool,
}

impl Cell {
    pub fn new(inline: String) -> Self {
        Self::looking(Look::Plain, inline)
    }

    pub fn looking(look: Look, inline: String) -> Self {
        Self {
            inline,
            look,
            heads_row: false,
        }
    }

    /// The cell that names its row.
    pub fn row_head(inline: String) -> Self {
        Self {
            heads_row: true,
            ..Self::new(inline)
        }
    }
}
