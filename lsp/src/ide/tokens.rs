//! Semantic tokens: the lexer's comments, strings, numbers and keywords, and every resolved name
//! by what it names (a signal, a fn, a class, a rule ...), marked where it is declared and when
//! it comes from the standard library.

use rollguard::syntax::lex::{self, Kind};
use rollguard::syntax::lexicon;
use tower_lsp_server::ls_types::{
    SemanticToken, SemanticTokenModifier, SemanticTokenType, SemanticTokensLegend,
};

use crate::db::{self, Db, DefKind, SourceFile, Token};
use crate::paths::FilePath;

pub const TYPES: &[SemanticTokenType] = &[
    SemanticTokenType::KEYWORD,
    SemanticTokenType::COMMENT,
    SemanticTokenType::STRING,
    SemanticTokenType::NUMBER,
    SemanticTokenType::VARIABLE,
    SemanticTokenType::FUNCTION,
    SemanticTokenType::PARAMETER,
    SemanticTokenType::CLASS,
    SemanticTokenType::ENUM_MEMBER,
    SemanticTokenType::NAMESPACE,
    SemanticTokenType::TYPE,
    SemanticTokenType::EVENT,
    SemanticTokenType::PROPERTY,
    SemanticTokenType::DECORATOR,
    SemanticTokenType::MACRO,
];

pub const MODIFIERS: &[SemanticTokenModifier] = &[
    SemanticTokenModifier::DECLARATION,
    SemanticTokenModifier::READONLY,
    SemanticTokenModifier::DEFAULT_LIBRARY,
    SemanticTokenModifier::DOCUMENTATION,
];

const DECLARATION: u32 = 1;
const READONLY: u32 = 2;
const DEFAULT_LIBRARY: u32 = 4;
const DOCUMENTATION: u32 = 8;

pub fn legend() -> SemanticTokensLegend {
    SemanticTokensLegend {
        token_types: TYPES.to_vec(),
        token_modifiers: MODIFIERS.to_vec(),
    }
}

fn ty(t: SemanticTokenType) -> u32 {
    TYPES
        .iter()
        .position(|x| *x == t)
        .expect("every type used is in the legend") as u32
}

/// A token before encoding: byte range, type index, modifier bits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Highlight {
    pub start: u32,
    pub end: u32,
    pub ty: SemanticTokenType,
    pub modifiers: u32,
}

fn def_type(kind: DefKind) -> (SemanticTokenType, u32) {
    match kind {
        DefKind::Signal => (SemanticTokenType::VARIABLE, 0),
        DefKind::Let | DefKind::Local => (SemanticTokenType::VARIABLE, READONLY),
        DefKind::Fn => (SemanticTokenType::FUNCTION, 0),
        DefKind::Param => (SemanticTokenType::PARAMETER, 0),
        DefKind::Class => (SemanticTokenType::CLASS, 0),
        DefKind::Tag => (SemanticTokenType::ENUM_MEMBER, 0),
        DefKind::Scope | DefKind::Policy | DefKind::Module => (SemanticTokenType::NAMESPACE, 0),
        DefKind::Rule | DefKind::Approval | DefKind::Forbid => (SemanticTokenType::EVENT, 0),
        DefKind::Test => (SemanticTokenType::STRING, 0),
    }
}

/// Every highlighted range of the file, in order.
pub fn highlights(db: &dyn Db, file: SourceFile) -> Vec<Highlight> {
    let text = file.text(db);
    let resolved = db::names(db, file);
    let occurrences = &resolved.occurrences;
    let mut next = 0;
    let mut out = Vec::new();
    for t in lex::lex(text) {
        while next < occurrences.len() && occurrences[next].end <= t.start {
            next += 1;
        }
        let occ = occurrences
            .get(next)
            .filter(|o| o.start == t.start && o.end == t.end());
        let word = t.text;
        let (ty, modifiers) = if let Some(o) = occ {
            let (ty, mut m) = match o.token {
                Token::Def(k) => def_type(k),
                Token::Builtin => (SemanticTokenType::FUNCTION, DEFAULT_LIBRARY),
                Token::Field => (SemanticTokenType::PROPERTY, 0),
                Token::PrincipalKind => (SemanticTokenType::ENUM_MEMBER, DEFAULT_LIBRARY),
                Token::Action => (SemanticTokenType::KEYWORD, 0),
                Token::Type => (SemanticTokenType::TYPE, DEFAULT_LIBRARY),
                Token::Annotation => (SemanticTokenType::DECORATOR, 0),
                Token::Code => (SemanticTokenType::MACRO, 0),
                Token::Unresolved => (SemanticTokenType::VARIABLE, 0),
            };
            if o.is_def {
                m |= DECLARATION;
            }
            if let Some(d) = &o.def {
                if d.kind != DefKind::Module && matches!(d.file.path(db), FilePath::Std(_)) {
                    m |= DEFAULT_LIBRARY;
                }
            }
            (ty, m)
        } else {
            match t.kind {
                Kind::LineComment | Kind::BlockComment => (SemanticTokenType::COMMENT, 0),
                Kind::Doc => (SemanticTokenType::COMMENT, DOCUMENTATION),
                Kind::Str => (SemanticTokenType::STRING, 0),
                Kind::Number => (SemanticTokenType::NUMBER, 0),
                // A date: `@until(2026-01-01)`.
                Kind::AnnotationWord if word.starts_with(|c: char| c.is_ascii_digit()) => {
                    (SemanticTokenType::NUMBER, 0)
                }
                Kind::Punct if word == "@" => (SemanticTokenType::DECORATOR, 0),
                Kind::Word if lexicon::is_reserved(word) => (SemanticTokenType::KEYWORD, 0),
                Kind::Word if lexicon::SPECIAL_FUNCTIONS.contains(&word) => {
                    (SemanticTokenType::FUNCTION, DEFAULT_LIBRARY)
                }
                Kind::Word if word == lexicon::DEPLOYMENT => {
                    (SemanticTokenType::VARIABLE, DEFAULT_LIBRARY | READONLY)
                }
                Kind::Word if word == lexicon::STD => {
                    (SemanticTokenType::NAMESPACE, DEFAULT_LIBRARY)
                }
                _ => continue,
            }
        };
        out.push(Highlight {
            start: t.start,
            end: t.end(),
            ty,
            modifiers,
        });
    }
    out
}

/// The LSP encoding: one token per line piece, positions relative to the previous token, in
/// UTF-16 units.
pub fn semantic_tokens(db: &dyn Db, file: SourceFile) -> Vec<SemanticToken> {
    let text = file.text(db);
    let lines = db::lines(db, file);
    let mut out = Vec::new();
    let (mut last_line, mut last_col) = (0u32, 0u32);
    for h in highlights(db, file) {
        // Split tokens that span lines (block comments).
        let mut start = h.start as usize;
        let end = h.end as usize;
        while start < end {
            let piece_end = text[start..end].find('\n').map_or(end, |i| start + i);
            if piece_end > start {
                let a = lines.position(start as u32);
                let b = lines.position(piece_end as u32);
                let delta_line = a.line - last_line;
                let delta_start = if delta_line == 0 {
                    a.character - last_col
                } else {
                    a.character
                };
                out.push(SemanticToken {
                    delta_line,
                    delta_start,
                    length: b.character - a.character,
                    token_type: ty(h.ty.clone()),
                    token_modifiers_bitset: h.modifiers,
                });
                last_line = a.line;
                last_col = a.character;
            }
            start = piece_end + 1;
        }
    }
    out
}
