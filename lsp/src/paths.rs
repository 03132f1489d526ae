//! Where a document lives: a path (on disk or only in the editor) or a standard module.
//!
//! Standard modules are built into the library; the server shows them as read-only virtual
//! documents with URIs `rollguard-std:///NAME.rollguard` (see the README).

use std::path::{Component, Path, PathBuf};
use std::str::FromStr;

use tower_lsp_server::ls_types::Uri;

/// The URI scheme of the standard modules.
pub const STD_SCHEME: &str = "rollguard-std";

/// A document's identity.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FilePath {
    /// A file: a `file:` URI, or another editor document named by a path-like string.
    Fs(PathBuf),
    /// `std::NAME`, embedded in the library.
    Std(String),
}

impl FilePath {
    pub fn from_uri(uri: &Uri) -> FilePath {
        let scheme = uri.scheme().as_str();
        if scheme.eq_ignore_ascii_case(STD_SCHEME) {
            let path = uri.path().decode().to_string_lossy();
            let name = path
                .trim_start_matches('/')
                .trim_end_matches(".rollguard")
                .to_string();
            return FilePath::Std(name);
        }
        if scheme.eq_ignore_ascii_case("file") {
            if let Some(p) = uri.to_file_path() {
                return FilePath::Fs(normalize(&p));
            }
        }
        // `untitled:Untitled-1` and the like: a path no disk file has, so the document forms a
        // set of its own (with any other such document).
        FilePath::Fs(PathBuf::from(format!(
            "/{}",
            uri.as_str().replace(':', "_")
        )))
    }

    pub fn std(name: &str) -> FilePath {
        FilePath::Std(name.to_string())
    }

    /// The URI clients see for this document. Documents the editor opened keep their own URI;
    /// the server keeps that mapping (see `server.rs`), so this is for the others.
    pub fn to_uri(&self) -> Option<Uri> {
        match self {
            FilePath::Fs(p) => Uri::from_file_path(p),
            FilePath::Std(name) => Uri::from_str(&format!("{STD_SCHEME}:///{name}.rollguard")).ok(),
        }
    }

    pub fn as_path(&self) -> Option<&Path> {
        match self {
            FilePath::Fs(p) => Some(p),
            FilePath::Std(_) => None,
        }
    }

    /// The directory whose files form this file's policy set.
    pub fn set_dir(&self) -> Option<PathBuf> {
        self.as_path()
            .map(|p| p.parent().map(Path::to_path_buf).unwrap_or_default())
    }

    /// The name the library shows in messages and uses to find the file again.
    pub fn display(&self) -> String {
        match self {
            FilePath::Fs(p) => p.display().to_string(),
            FilePath::Std(name) => format!("std::{name}"),
        }
    }

    /// The path for a name the library used in its `Sources` (the inverse of [`Self::display`],
    /// for paths written as `dir/../x.rollguard` too).
    pub fn from_display(name: &str) -> FilePath {
        match name.strip_prefix("std::") {
            Some(m) => FilePath::Std(m.to_string()),
            None => FilePath::Fs(normalize(Path::new(name))),
        }
    }
}

/// Removes `.` and resolves `..` without touching the disk, so a path a `use` builds
/// (`/ws/svc/../shared/x.rollguard`) names the same file as the one an editor opened.
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_round_trip() {
        let uri = Uri::from_str("file:///ws/caf%C3%A9/a.rollguard").unwrap();
        let p = FilePath::from_uri(&uri);
        assert_eq!(p, FilePath::Fs(PathBuf::from("/ws/café/a.rollguard")));
        assert_eq!(p.to_uri().unwrap(), uri);
        let std = Uri::from_str("rollguard-std:///http.rollguard").unwrap();
        assert_eq!(FilePath::from_uri(&std), FilePath::std("http"));
        assert_eq!(FilePath::std("http").to_uri().unwrap(), std);
    }

    #[test]
    fn normalizes_parent_components() {
        assert_eq!(
            normalize(Path::new("/ws/svc/../shared/./x.rollguard")),
            PathBuf::from("/ws/shared/x.rollguard")
        );
        assert_eq!(
            FilePath::from_display("std::deps"),
            FilePath::Std("deps".into())
        );
    }
}
