//! The loading edge: policy sets from paths on disk.
//!
//! A policy set is the `.rollguard` files of one directory, or the files named together.

use std::fs;
use std::path::{Path, PathBuf};

use crate::check::SetFile;

pub const EXTENSION: &str = "rollguard";

fn read(path: &Path) -> Result<SetFile, String> {
    let text =
        fs::read_to_string(path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
    Ok(SetFile {
        name: path.display().to_string(),
        path: path.to_path_buf(),
        text,
    })
}

fn policy_files(dir: &Path) -> Result<Vec<PathBuf>, String> {
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
pub fn one_set(paths: &[PathBuf]) -> Result<Vec<SetFile>, String> {
    let mut files = Vec::new();
    for p in paths {
        if p.is_dir() {
            for f in policy_files(p)? {
                files.push(read(&f)?);
            }
        } else if p.exists() {
            files.push(read(p)?);
        } else {
            return Err(format!("no such file or directory: `{}`", p.display()));
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
        ));
    }
    Ok(files)
}

/// Every set under the paths (`check`, `test`): each directory of the trees on its own, and
/// the files named on the command line together as one more.
pub fn sets_in_trees(paths: &[PathBuf]) -> Result<Vec<Vec<SetFile>>, String> {
    let mut sets = Vec::new();
    let mut loose = Vec::new();
    for p in paths {
        if p.is_dir() {
            walk(p, &mut sets)?;
        } else if p.exists() {
            loose.push(read(p)?);
        } else {
            return Err(format!("no such file or directory: `{}`", p.display()));
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
        ));
    }
    Ok(sets)
}

fn walk(dir: &Path, sets: &mut Vec<Vec<SetFile>>) -> Result<(), String> {
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
