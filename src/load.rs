//! The loading edge: policy sets from paths on disk.
//!
//! A policy set is the `.rollguard` files of one directory, or the files named together.

use std::fs;
use std::path::{Path, PathBuf};

use crate::check::SetFile;

pub const EXTENSION: &str = "rollguard";

/// Why paths could not be read as policy sets.
#[derive(Clone, Debug)]
pub struct Failure {
    pub message: String,
    /// The file was read but is not a policy file (invalid UTF-8): a problem of the policy, not
    /// of the command line.
    pub in_policy: bool,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<String> for Failure {
    fn from(message: String) -> Failure {
        Failure {
            message,
            in_policy: false,
        }
    }
}

fn read(path: &Path) -> Result<SetFile, Failure> {
    let bytes = fs::read(path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let good = &e.as_bytes()[..e.utf8_error().valid_up_to()];
            let before = String::from_utf8_lossy(good);
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            return Err(Failure {
                message: format!(
                    "{}:{line}:{column}: error[E0001]: the file is not valid UTF-8 (byte 0x{:02X}); save it as UTF-8",
                    path.display(),
                    e.as_bytes()[good.len()]
                ),
                in_policy: true,
            });
        }
    };
    Ok(SetFile {
        name: path.display().to_string(),
        path: path.to_path_buf(),
        text,
    })
}

fn policy_files(dir: &Path) -> Result<Vec<PathBuf>, Failure> {
    let entries =
        fs::read_dir(dir).map_err(|e| format!("cannot read directory `{}`: {e}", dir.display()))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == EXTENSION))
        .collect();
    files.sort();
    Ok(files)
}

/// One set: the files named, or the `.rollguard` files of one directory (`eval`, `replay`).
pub fn one_set(paths: &[PathBuf]) -> Result<Vec<SetFile>, Failure> {
    let mut files = Vec::new();
    for p in paths {
        if p.is_dir() {
            for f in policy_files(p)? {
                files.push(read(&f)?);
            }
        } else if p.exists() {
            files.push(read(p)?);
        } else {
            return Err(format!("no such file or directory: `{}`", p.display()).into());
        }
    }
    if files.is_empty() {
        return Err(format!(
            "no .{EXTENSION} files in {}",
            paths
                .iter()
                .map(|p| format!("`{}`", p.display()))
                .collect::<Vec<_>>()
                .join(", ")
        )
        .into());
    }
    Ok(files)
}

/// Every set under the paths (`check`, `test`): each directory of the trees on its own, and
/// the files named on the command line together as one more.
pub fn sets_in_trees(paths: &[PathBuf]) -> Result<Vec<Vec<SetFile>>, Failure> {
    let mut sets = Vec::new();
    let mut loose = Vec::new();
    for p in paths {
        if p.is_dir() {
            walk(p, &mut sets)?;
        } else if p.exists() {
            loose.push(read(p)?);
        } else {
            return Err(format!("no such file or directory: `{}`", p.display()).into());
        }
    }
    if !loose.is_empty() {
        sets.push(loose);
    }
    if sets.is_empty() {
        return Err(format!(
            "no .{EXTENSION} files under {}",
            paths
                .iter()
                .map(|p| format!("`{}`", p.display()))
                .collect::<Vec<_>>()
                .join(", ")
        )
        .into());
    }
    Ok(sets)
}

fn walk(dir: &Path, sets: &mut Vec<Vec<SetFile>>) -> Result<(), Failure> {
    let files = policy_files(dir)?;
    if !files.is_empty() {
        sets.push(files.iter().map(|f| read(f)).collect::<Result<_, _>>()?);
    }
    let mut dirs: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(|e| format!("cannot read directory `{}`: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_dir()
                && !p
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    dirs.sort();
    for d in dirs {
        walk(&d, sets)?;
    }
    Ok(())
}
