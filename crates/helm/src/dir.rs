//! Loading a chart directory through a reader the caller confines: the walk,
//! `.helmignore` and the size bounds live here once for every caller.

use crate::chart::{File, MAX_CHART_BYTES, MAX_FILE_BYTES, MAX_FILES};
use crate::ignore::Ignore;
use crate::{Chart, Error};

/// A chart directory as the caller exposes it; paths are relative to the
/// chart's root and `/`-separated (`""` is the root).
pub trait Dir {
    /// The entries of a directory: names and whether each is a directory.
    fn entries(&self, rel: &str) -> Result<Vec<(String, bool)>, String>;
    /// A file's content, at most `limit` bytes (more is an error).
    fn read(&self, rel: &str, limit: u64) -> Result<Vec<u8>, String>;
}

/// Reads every file of the chart that `.helmignore` keeps, then builds the chart. Every file
/// that cannot be read is reported, not only the first.
pub fn load_dir(d: &dyn Dir) -> Result<Chart, Vec<Error>> {
    let (files, errors) = read_all(d).map_err(|e| vec![e])?;
    if !errors.is_empty() {
        return Err(errors);
    }
    crate::load_files(files).map_err(|e| vec![e])
}

fn read_all(d: &dyn Dir) -> Result<(Vec<File>, Vec<Error>), Error> {
    let mut errors = Vec::new();
    let ignore = match d
        .entries("")?
        .iter()
        .any(|(n, dir)| n == ".helmignore" && !dir)
    {
        true => {
            let data = d
                .read(".helmignore", MAX_FILE_BYTES)
                .map_err(Error::plain)?;
            Ignore::parse(&String::from_utf8_lossy(&data)).map_err(Error::plain)?
        }
        false => Ignore::parse("").map_err(Error::plain)?,
    };
    let mut files = Vec::new();
    let mut total = 0u64;
    let mut stack = vec![String::new()];
    while let Some(dir) = stack.pop() {
        let mut entries = match d.entries(&dir) {
            Ok(e) => e,
            Err(e) => {
                errors.push(Error::plain(e));
                continue;
            }
        };
        entries.sort();
        for (name, is_dir) in entries {
            let rel = if dir.is_empty() {
                name
            } else {
                format!("{dir}/{name}")
            };
            if ignore.ignored(&rel, is_dir) {
                continue;
            }
            if is_dir {
                stack.push(rel);
                continue;
            }
            let data = match d.read(&rel, MAX_FILE_BYTES) {
                Ok(d) => d,
                Err(e) => {
                    errors.push(Error::plain(e));
                    continue;
                }
            };
            total += data.len() as u64;
            if total > MAX_CHART_BYTES || files.len() >= MAX_FILES {
                return Err(Error::plain(format!(
                    "the chart is larger than {} MiB or {MAX_FILES} files",
                    MAX_CHART_BYTES >> 20
                )));
            }
            files.push(File { name: rel, data });
        }
    }
    Ok((files, errors))
}

impl From<String> for Error {
    fn from(s: String) -> Error {
        Error::plain(s)
    }
}

/// A chart directory on the local file system; symbolic links are refused
/// (a chart's files are its own).
pub struct FsDir(pub std::path::PathBuf);

impl Dir for FsDir {
    fn entries(&self, rel: &str) -> Result<Vec<(String, bool)>, String> {
        let p = self.0.join(rel);
        let rd = std::fs::read_dir(&p).map_err(|e| format!("{}: {e}", p.display()))?;
        let mut out = Vec::new();
        for e in rd {
            let e = e.map_err(|e| format!("{}: {e}", p.display()))?;
            let ft = e.file_type().map_err(|e| format!("{}: {e}", p.display()))?;
            let name = e.file_name().to_string_lossy().into_owned();
            if ft.is_symlink() {
                return Err(format!(
                    "{}: symbolic links are not followed in a chart",
                    e.path().display()
                ));
            }
            out.push((name, ft.is_dir()));
        }
        Ok(out)
    }

    fn read(&self, rel: &str, limit: u64) -> Result<Vec<u8>, String> {
        use std::io::Read;
        let p = self.0.join(rel);
        let f = std::fs::File::open(&p).map_err(|e| format!("{}: {e}", p.display()))?;
        let mut data = Vec::new();
        f.take(limit + 1)
            .read_to_end(&mut data)
            .map_err(|e| format!("{}: {e}", p.display()))?;
        if data.len() as u64 > limit {
            return Err(format!("{}: larger than {} MiB", p.display(), limit >> 20));
        }
        Ok(data)
    }
}
