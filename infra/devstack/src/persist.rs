//! The local run's state across restarts: the embedded store, queue and outbox written to and
//! read from `state.json` in the data directory.

use crate::{Dev, DevError, Embedded};

pub(crate) const STATE_FILE: &str = "state.json";

impl Embedded {
    /// Writes the state to `dir`.
    pub(crate) fn save_to(&self, dir: &std::path::Path) {
        let snapshot = (|| -> Result<String, String> {
            let store = self.store.snapshot().map_err(|x| x.to_string())?;
            let queue = self.queue.snapshot().map_err(|x| x.to_string())?;
            let outbox = self.outbox.snapshot().map_err(|x| x.to_string())?;
            serde_json::to_string(&serde_json::json!({
                "store": store, "queue": queue, "outbox": outbox
            }))
            .map_err(|x| x.to_string())
        })();
        match snapshot {
            Ok(json) => {
                let tmp = dir.join(format!("{STATE_FILE}.tmp"));
                let result = std::fs::write(&tmp, json)
                    .and_then(|_| std::fs::rename(&tmp, dir.join(STATE_FILE)));
                if let Err(err) = result {
                    tracing::error!(error = %err, "could not save the local state");
                }
            }
            Err(err) => tracing::error!(error = %err, "could not snapshot the local state"),
        }
    }

    /// Reads the state saved in `dir`, if any.
    pub(crate) fn load_from(&self, dir: &std::path::Path) -> Result<(), DevError> {
        let path = dir.join(STATE_FILE);
        if !path.exists() {
            return Ok(());
        }
        let bad = |x: String| DevError::Setup(format!("{}: {x}", path.display()));
        let raw = std::fs::read_to_string(&path).map_err(|x| bad(x.to_string()))?;
        let v: serde_json::Value = serde_json::from_str(&raw).map_err(|x| bad(x.to_string()))?;
        let part = |k: &str| v[k].as_str().unwrap_or("").to_owned();
        self.store
            .restore(&part("store"))
            .map_err(|x| bad(x.to_string()))?;
        self.queue
            .restore(&part("queue"))
            .map_err(|x| bad(x.to_string()))?;
        self.outbox
            .restore(&part("outbox"))
            .map_err(|x| bad(x.to_string()))?;
        Ok(())
    }
}

impl Dev {
    /// Writes the embedded state to the data directory (if any).
    pub fn save(&self) {
        if let (Some(dir), Some(e)) = (&self.data_dir, &self.embedded) {
            e.save_to(dir);
        }
    }

    pub(crate) fn load(&self) -> Result<(), DevError> {
        match (&self.data_dir, &self.embedded) {
            (Some(dir), Some(e)) => e.load_from(dir),
            _ => Ok(()),
        }
    }
}
