//! The running set of cameras, changed at run time: by the control API
//! (add, change, remove) and by a reload of the configuration file
//! (SIGHUP, `POST /api/reload`). Cameras whose settings are unchanged are
//! never touched.

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::Arc;

use recorder_core::recorder::{CameraConfig, Recorder, RecorderError};
use recorder_core::sink::s3::S3Store;
use recorder_core::sink::{DynSegmentSink, LocalSink, LocalSinkOptions};

use crate::config::{self, Camera, Config, ConfigErrors, Env, Flags};

/// Where cameras store: fixed for the process (a storage change needs a
/// restart).
#[derive(Clone)]
pub enum Store {
    /// A local folder.
    Local {
        /// The folder.
        dir: PathBuf,
        /// fsync each fragment.
        sync_fragments: bool,
    },
    /// A bucket.
    S3(S3Store),
}

/// Where the configuration comes from, to read it again.
#[derive(Clone, Debug)]
pub struct Source {
    /// `--config`.
    pub path: Option<PathBuf>,
    /// The environment at start.
    pub env: Env,
    /// The command line.
    pub flags: Flags,
}

/// Why a change of the camera set was refused.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// The configuration (or a camera in a request) is invalid.
    #[error("{0}")]
    Invalid(ConfigErrors),
    /// A request that makes no sense for the current set.
    #[error("{0}")]
    Conflict(String),
    /// No such camera.
    #[error("no camera `{0}`")]
    Unknown(String),
    /// The recorder refused.
    #[error(transparent)]
    Recorder(#[from] RecorderError),
    /// Opening the camera's sink failed.
    #[error("{0}")]
    Sink(String),
}

/// What a reload did.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct ReloadReport {
    /// Cameras started.
    pub added: Vec<String>,
    /// Cameras stopped.
    pub removed: Vec<String>,
    /// Cameras restarted with new settings.
    pub changed: Vec<String>,
    /// Cameras left recording as they were.
    pub unchanged: Vec<String>,
    /// Settings that changed but apply only after a restart.
    pub needs_restart: Vec<String>,
}

struct Running {
    camera: Camera,
    fingerprint: u64,
}

/// The cameras a `camrec record` runs, and how to change them.
pub struct Control {
    /// The recorder.
    pub recorder: Recorder,
    store: Store,
    source: Source,
    state: tokio::sync::Mutex<State>,
    /// What `/metrics` and `/ready` report, kept in step.
    watched: std::sync::Mutex<Option<crate::metrics::WatchedCameras>>,
}

struct State {
    cfg: Config,
    running: BTreeMap<String, Running>,
}

/// The library settings of one configured camera.
pub fn library_camera(c: &Camera, cfg: &Config) -> CameraConfig {
    let lib = crate::commands::record::camera_config(c).with_clips(cfg.control.clip_settings());
    match cfg.thumbnails.library_config() {
        Some(t) => lib.with_thumbnails(t),
        None => lib,
    }
}

/// A digest of everything that makes a camera record differently,
/// credentials included (they are never shown, only compared).
fn fingerprint(lib: &CameraConfig, c: &Camera) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    format!("{lib:?}").hash(&mut h);
    let url = &c.url.v;
    url.url().as_str().hash(&mut h);
    if let Some(cr) = url.credentials() {
        cr.username.hash(&mut h);
        cr.password.hash(&mut h);
    }
    c.name.v.hash(&mut h);
    h.finish()
}

impl Control {
    /// Control over `recorder`, storing to `store`, with `cfg` as read.
    pub fn new(recorder: Recorder, store: Store, source: Source, cfg: Config) -> Arc<Self> {
        Arc::new(Control {
            recorder,
            store,
            source,
            state: tokio::sync::Mutex::new(State {
                cfg,
                running: BTreeMap::new(),
            }),
            watched: std::sync::Mutex::new(None),
        })
    }

    /// Keeps `w` (the metrics' camera list) in step with the cameras.
    pub fn watch(&self, w: crate::metrics::WatchedCameras) {
        *self.watched.lock().unwrap_or_else(|p| p.into_inner()) = Some(w);
    }

    fn watched(&self) -> Option<crate::metrics::WatchedCameras> {
        self.watched
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Shows a started or restarted camera in the metrics.
    fn track(&self, status: Arc<recorder_core::CameraStatus>, c: &Camera) {
        if let Some(w) = self.watched() {
            w.put(crate::metrics::WatchedCamera {
                status,
                name: c.name.v.clone(),
            });
        }
    }

    /// Stops a camera and drops it from the metrics.
    async fn stop_camera(&self, id: &str) -> Result<(), ControlError> {
        if let Some(w) = self.watched() {
            w.remove(id);
        }
        self.recorder.remove_camera(id).await?;
        Ok(())
    }

    fn sink(&self, c: &Camera, cfg: &Config) -> Result<Box<dyn DynSegmentSink>, ControlError> {
        Ok(match &self.store {
            Store::Local {
                dir,
                sync_fragments,
            } => Box::new(
                LocalSink::new(dir, cfg.key_template.v.clone())
                    .map_err(|e| {
                        ControlError::Sink(format!("output folder {}: {e}", dir.display()))
                    })?
                    .with_options(LocalSinkOptions {
                        sync_each_fragment: *sync_fragments,
                    }),
            ),
            Store::S3(s) => Box::new(s.sink(&c.id.v)),
        })
    }

    /// Starts one camera of the running configuration.
    pub async fn start(
        &self,
        c: &Camera,
    ) -> Result<Arc<recorder_core::CameraStatus>, ControlError> {
        let mut st = self.state.lock().await;
        self.start_locked(&mut st, c, None)
    }

    fn start_locked(
        &self,
        st: &mut State,
        c: &Camera,
        cfg: Option<&Config>,
    ) -> Result<Arc<recorder_core::CameraStatus>, ControlError> {
        let cfg = cfg.unwrap_or(&st.cfg);
        let lib = library_camera(c, cfg);
        let fp = fingerprint(&lib, c);
        let sink = self.sink(c, cfg)?;
        let status = self.recorder.add_camera(lib, sink)?;
        tracing::info!(camera = %c.id.v, url = %c.url.v, "starting camera");
        self.track(status.clone(), c);
        st.running.insert(
            c.id.v.clone(),
            Running {
                camera: c.clone(),
                fingerprint: fp,
            },
        );
        Ok(status)
    }

    /// The configured settings of a running camera.
    pub async fn camera(&self, id: &str) -> Option<Camera> {
        self.state
            .lock()
            .await
            .running
            .get(id)
            .map(|r| r.camera.clone())
    }

    /// Display names of the running cameras.
    pub async fn names(&self) -> BTreeMap<String, Option<String>> {
        self.state
            .lock()
            .await
            .running
            .iter()
            .map(|(id, r)| (id.clone(), r.camera.name.v.clone()))
            .collect()
    }

    /// A camera from a request body with the fields of a `[[cameras]]`
    /// entry, checked like the file's (with its `[defaults]` and
    /// `[output]` applying). `id` forces the id (a `PUT`).
    pub async fn camera_from_json(
        &self,
        body: &serde_json::Value,
        id: Option<&str>,
    ) -> Result<(Camera, Config), ControlError> {
        let bad = |m: String| {
            ControlError::Invalid(ConfigErrors(vec![config::ConfigError {
                at: config::Origin::Default,
                message: m,
                fix: "send a JSON object with the fields of a [[cameras]] entry, e.g. {\"id\": \"porch\", \"url\": \"rtsp://192.0.2.10/stream1\"}".into(),
            }]))
        };
        let mut obj = body
            .as_object()
            .cloned()
            .ok_or_else(|| bad("the request body is not a JSON object".into()))?;
        if let Some(id) = id {
            obj.insert("id".into(), serde_json::Value::String(id.to_owned()));
        }
        let cam = toml::Value::try_from(serde_json::Value::Object(obj))
            .map_err(|e| bad(format!("the camera cannot be expressed as TOML: {e}")))?;
        let text = match &self.source.path {
            Some(p) => std::fs::read_to_string(p).unwrap_or_default(),
            None => String::new(),
        };
        let mut table: toml::Table = text.parse().unwrap_or_default();
        table.insert("cameras".into(), toml::Value::Array(vec![cam]));
        let text = toml::to_string(&table).map_err(|e| bad(e.to_string()))?;
        let path = PathBuf::from("request body");
        // The request's camera is the only one: camera variables
        // (CAMERA1_RTSP_URL, ...) and URLs on the command line would
        // otherwise apply to it or replace it.
        let env: Env = self
            .source
            .env
            .iter()
            .filter(|(k, _)| !k.starts_with("CAMERA"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let flags = Flags {
            urls: Vec::new(),
            camera_ids: Vec::new(),
            ..self.source.flags.clone()
        };
        let cfg = config::build(Some(&path), &text, &env, &flags).map_err(ControlError::Invalid)?;
        let want = match id {
            Some(id) => Some(id.to_owned()),
            None => cfg.cameras.first().map(|c| c.id.v.clone()),
        };
        let c = cfg
            .cameras
            .iter()
            .find(|c| Some(&c.id.v) == want.as_ref())
            .cloned()
            .ok_or_else(|| bad("the request names no camera".into()))?;
        Ok((c, cfg))
    }

    /// Adds a camera (`POST /api/cameras`).
    pub async fn add(&self, body: &serde_json::Value) -> Result<String, ControlError> {
        let (c, cfg) = self.camera_from_json(body, None).await?;
        let mut st = self.state.lock().await;
        if st.running.contains_key(&c.id.v) {
            return Err(ControlError::Conflict(format!(
                "camera `{}` exists already: change it with PUT /api/cameras/{}",
                c.id.v, c.id.v
            )));
        }
        if !c.enabled.v {
            return Err(ControlError::Conflict(format!(
                "camera `{}` is disabled (\"enabled\": false): nothing to start",
                c.id.v
            )));
        }
        self.start_locked(&mut st, &c, Some(&cfg))?;
        Ok(c.id.v)
    }

    /// Changes a camera (`PUT /api/cameras/{id}`): restarted only if its
    /// settings differ.
    pub async fn change(&self, id: &str, body: &serde_json::Value) -> Result<bool, ControlError> {
        let (c, cfg) = self.camera_from_json(body, Some(id)).await?;
        let mut st = self.state.lock().await;
        let Some(old) = st.running.get(id) else {
            return Err(ControlError::Unknown(id.to_owned()));
        };
        let lib = library_camera(&c, &cfg);
        let fp = fingerprint(&lib, &c);
        if fp == old.fingerprint {
            return Ok(false);
        }
        if !c.enabled.v {
            st.running.remove(id);
            drop(st);
            self.stop_camera(id).await?;
            return Ok(true);
        }
        let status = self.recorder.reconfigure_camera(lib).await?;
        self.track(status, &c);
        st.running.insert(
            id.to_owned(),
            Running {
                camera: c,
                fingerprint: fp,
            },
        );
        Ok(true)
    }

    /// Removes a camera; its open segment is closed first.
    pub async fn remove(&self, id: &str) -> Result<(), ControlError> {
        let mut st = self.state.lock().await;
        if st.running.remove(id).is_none() {
            return Err(ControlError::Unknown(id.to_owned()));
        }
        drop(st);
        self.stop_camera(id).await
    }

    /// Reads the configuration again and applies the difference in
    /// cameras. An invalid file changes nothing.
    pub async fn reload(&self) -> Result<ReloadReport, ControlError> {
        let cfg = config::load(
            self.source.path.as_deref(),
            &self.source.env,
            &self.source.flags,
        )
        .map_err(ControlError::Invalid)?;
        let mut st = self.state.lock().await;
        let mut report = ReloadReport::default();
        if cfg.storage.kind.v != st.cfg.storage.kind.v
            || cfg.storage.dir.v != st.cfg.storage.dir.v
            || cfg.key_template.v != st.cfg.key_template.v
        {
            report.needs_restart.push("storage".into());
        }
        if cfg.metrics_listen.v != st.cfg.metrics_listen.v {
            report.needs_restart.push("metrics listen address".into());
        }
        let wanted: BTreeMap<String, &Camera> =
            cfg.enabled_cameras().map(|c| (c.id.v.clone(), c)).collect();
        let gone: Vec<String> = st
            .running
            .keys()
            .filter(|id| !wanted.contains_key(*id))
            .cloned()
            .collect();
        for id in gone {
            st.running.remove(&id);
            tracing::info!(camera = %id, "removed from the configuration; stopping it");
            self.stop_camera(&id).await?;
            report.removed.push(id);
        }
        for (id, c) in &wanted {
            let lib = library_camera(c, &cfg);
            let fp = fingerprint(&lib, c);
            match st.running.get(id) {
                None => {
                    self.start_locked(&mut st, c, Some(&cfg))?;
                    report.added.push(id.clone());
                }
                Some(r) if r.fingerprint == fp => {
                    report.unchanged.push(id.clone());
                    // Origins (line numbers) may have moved.
                    st.running.get_mut(id).expect("present").camera = (*c).clone();
                }
                Some(_) => {
                    tracing::info!(camera = %id, "settings changed in the configuration; restarting it");
                    let status = self.recorder.reconfigure_camera(lib).await?;
                    self.track(status, c);
                    st.running.insert(
                        id.clone(),
                        Running {
                            camera: (*c).clone(),
                            fingerprint: fp,
                        },
                    );
                    report.changed.push(id.clone());
                }
            }
        }
        st.cfg = cfg;
        tracing::info!(added = ?report.added, removed = ?report.removed, changed = ?report.changed, unchanged = report.unchanged.len(), needs_restart = ?report.needs_restart, "configuration reloaded");
        Ok(report)
    }

    /// Reload for SIGHUP: logs instead of answering.
    pub async fn reload_and_log(&self) {
        match self.reload().await {
            Ok(_) => {}
            Err(ControlError::Invalid(errors)) => {
                tracing::error!("configuration not reloaded; nothing changed:\n{errors}");
            }
            Err(e) => tracing::error!(error = %e, "configuration reload failed part way"),
        }
    }
}
