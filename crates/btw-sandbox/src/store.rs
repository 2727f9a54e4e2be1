//! Persistence of the sandbox world to its state file (JSON, written to a temp file then renamed).

use crate::world::World;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Orders saves: a snapshot taken later never gets overwritten by an earlier one.
#[derive(Debug)]
pub struct Persister {
    pub path: Option<PathBuf>,
    pub generation: AtomicU64,
    /// The generation last written (also serialises writers).
    pub written: Mutex<u64>,
}

impl Persister {
    /// Serialises the world; call with the world locked so generations follow lock order.
    pub fn snapshot(&self, world: &World) -> (u64, Vec<u8>) {
        let generation = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
        let bytes = serde_json::to_vec_pretty(world).unwrap_or_default();
        (generation, bytes)
    }

    /// Writes a snapshot unless a newer one was written already.
    pub fn write(&self, path: &Path, generation: u64, bytes: &[u8]) -> io::Result<()> {
        if bytes.is_empty() {
            return Err(io::Error::other("state did not serialise"));
        }
        let mut written = self.written.lock().unwrap_or_else(|e| e.into_inner());
        if generation <= *written {
            return Ok(());
        }
        write_atomically(path, bytes)?;
        *written = generation;
        Ok(())
    }
}

/// Writes `bytes` to a sibling temp file, syncs it and renames it over `path`.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    if let Some(dir) = path.parent() {
        if !dir.as_os_str().is_empty() {
            std::fs::create_dir_all(dir)?;
        }
    }
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_else(|| "sandbox-state.json".into());
    name.push(format!(".{}.tmp", std::process::id()));
    let tmp = path.with_file_name(name);
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// Loads a world saved by [`Persister::write`]; `Ok(None)` when the file does not exist.
/// The saved clock keeps its time; it runs at `clock_speed` from now on.
pub fn load(path: &Path, clock_speed: f64) -> io::Result<Option<World>> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut world: World = serde_json::from_slice(&bytes).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("sandbox state file {} is not valid: {e}", path.display()),
        )
    })?;
    world.clock.set_speed(clock_speed);
    Ok(Some(world))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_through_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested").join("state.json");
        assert!(load(&path, 1.0).unwrap().is_none());
        let mut world = World::seed(0.0);
        let q = world.next_qualification_id();
        let p = Persister {
            path: Some(path.clone()),
            generation: AtomicU64::new(0),
            written: Mutex::new(0),
        };
        let (g, bytes) = p.snapshot(&world);
        p.write(&path, g, &bytes).unwrap();
        // An older generation is not written over a newer one.
        p.write(&path, g - 1, b"garbage").unwrap();
        let back = load(&path, 1.0).unwrap().unwrap();
        assert_eq!(back.counters.qualification, world.counters.qualification);
        assert_eq!(q, "QFW103255");
        std::fs::write(&path, b"{not json").unwrap();
        assert_eq!(
            load(&path, 1.0).unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
    }
}
