//! Byte offsets (what the library's spans hold) to LSP positions and back.
//!
//! LSP counts columns in UTF-16 code units; the library counts bytes of UTF-8. The `line-index`
//! crate keeps, per line, where the non-ASCII characters are, so both directions cost a binary
//! search plus a walk over that line's wide characters.

use line_index::{LineCol, LineIndex, TextSize, WideEncoding, WideLineCol};
use tower_lsp_server::ls_types::{Position, Range};

/// A line index and the text it was built from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lines {
    index: LineIndex,
    len: u32,
}

impl Lines {
    pub fn new(text: &str) -> Lines {
        Lines {
            index: LineIndex::new(text),
            len: text.len() as u32,
        }
    }

    /// The LSP position of a byte offset. An offset past the end, or inside a character, is
    /// moved back to the nearest character boundary.
    pub fn position(&self, offset: u32) -> Position {
        let mut offset = offset.min(self.len);
        loop {
            if let Some(lc) = self.index.try_line_col(TextSize::from(offset)) {
                let wide = self
                    .index
                    .to_wide(WideEncoding::Utf16, lc)
                    .unwrap_or(WideLineCol {
                        line: lc.line,
                        col: lc.col,
                    });
                return Position::new(wide.line, wide.col);
            }
            if offset == 0 {
                return Position::new(0, 0);
            }
            offset -= 1;
        }
    }

    pub fn range(&self, start: u32, end: u32) -> Range {
        Range::new(self.position(start), self.position(end))
    }

    /// The position of a line and byte column (as [`crate::db::Place`] stores them).
    pub fn line_col_position(&self, line: u32, col: u32) -> Position {
        match self.index.offset(LineCol { line, col }) {
            Some(offset) => self.position(offset.into()),
            None => Position::new(line, col),
        }
    }

    /// The byte offset of an LSP position. A column past the end of its line means the end of
    /// the line; a line past the end of the text means the end of the text.
    pub fn offset(&self, pos: Position) -> u32 {
        let Some(line) = self.index.line(pos.line) else {
            return self.len;
        };
        let lc = self
            .index
            .to_utf8(
                WideEncoding::Utf16,
                WideLineCol {
                    line: pos.line,
                    col: pos.character,
                },
            )
            .unwrap_or(LineCol {
                line: pos.line,
                col: u32::MAX,
            });
        let start: u32 = line.start().into();
        let mut end: u32 = line.end().into();
        if self.index.line(pos.line + 1).is_some() {
            end -= 1; // not past the line's `\n`
        }
        start.saturating_add(lc.col).min(end)
    }

    /// The byte offset of a line and byte column (clamped to the text).
    pub fn offset_at(&self, line: u32, col: u32) -> u32 {
        match self.index.line(line) {
            Some(r) => (u32::from(r.start()) + col).min(self.len),
            None => self.len,
        }
    }

    /// The line (zero-based) and byte column of an offset.
    pub fn line_col(&self, offset: u32) -> (u32, u32) {
        let mut offset = offset.min(self.len);
        loop {
            if let Some(lc) = self.index.try_line_col(TextSize::from(offset)) {
                return (lc.line, lc.col);
            }
            offset -= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_round_trip() {
        let l = Lines::new("ab\ncd\n");
        assert_eq!(l.position(0), Position::new(0, 0));
        assert_eq!(l.position(4), Position::new(1, 1));
        assert_eq!(l.offset(Position::new(1, 1)), 4);
        assert_eq!(l.position(6), Position::new(2, 0));
    }

    #[test]
    fn non_ascii_columns_count_utf16_units() {
        // `é` is 2 bytes and 1 UTF-16 unit; `😀` is 4 bytes and 2 UTF-16 units.
        let text = "/// café 😀 x\nsignal é";
        let l = Lines::new(text);
        let x = text.find(" x").unwrap() as u32 + 1;
        assert_eq!(x, 15);
        // "/// caf" (7) + "é" (1) + " " (1) + "😀" (2) + " " (1) = 12
        assert_eq!(l.position(x), Position::new(0, 12));
        assert_eq!(l.offset(Position::new(0, 12)), x);
        // Second line: `é` after "signal " sits at column 7; the end of line is 8 units in.
        assert_eq!(l.position(text.len() as u32), Position::new(1, 8));
        assert_eq!(l.offset(Position::new(1, 8)), text.len() as u32);
        // An offset inside `😀` goes back to its start.
        let emoji = text.find('😀').unwrap() as u32;
        assert_eq!(l.position(emoji + 2), l.position(emoji));
    }

    #[test]
    fn positions_past_the_end_are_clamped() {
        let l = Lines::new("ab\ncé");
        assert_eq!(l.offset(Position::new(0, 99)), 2);
        assert_eq!(l.offset(Position::new(9, 0)), 6);
        assert_eq!(l.position(99), Position::new(1, 2));
    }
}
