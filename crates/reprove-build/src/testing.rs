//! A fake container engine for pipeline tests (feature `testing`): no container and no image,
//! the job "runs" a function over the unpacked build tree. It goes through the same job shape
//! as a real engine — the source tar checked against its listing, the log streamed, the
//! outputs returned as a tar — so the pipeline around it is tested for real.

use std::io::{Read, Write};
use std::path::Path;
use std::sync::Mutex;

use reprove_oci::ImageRef;

use crate::BuildError;
use crate::engine::{ContainerEngine, Job, RunEnd, StoreInput};
use crate::export::Listing;

/// What the fake job does with the build tree (and the store folder, when the job has one):
/// write outputs into it and say how it ended.
pub type FakeBuild = dyn Fn(&Job, &Path, Option<&Path>) -> RunEnd + Send + Sync;

/// The fake engine; it records every job it was given.
pub struct FakeEngine {
    build: Box<FakeBuild>,
    /// The jobs run, in order.
    pub jobs: Mutex<Vec<Job>>,
}

impl FakeEngine {
    pub fn new(build: impl Fn(&Job, &Path) -> RunEnd + Send + Sync + 'static) -> FakeEngine {
        FakeEngine::with_store(move |job, tree, _| build(job, tree))
    }

    /// A fake engine whose jobs also see the store folder (a fetch fills it, a build reads it).
    pub fn with_store(
        build: impl Fn(&Job, &Path, Option<&Path>) -> RunEnd + Send + Sync + 'static,
    ) -> FakeEngine {
        FakeEngine {
            build: Box::new(build),
            jobs: Mutex::new(Vec::new()),
        }
    }

    /// A copy of the jobs run so far.
    pub fn jobs(&self) -> Vec<Job> {
        self.jobs.lock().map(|j| j.clone()).unwrap_or_default()
    }
}

impl std::fmt::Debug for FakeEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeEngine").finish_non_exhaustive()
    }
}

impl ContainerEngine for FakeEngine {
    fn name(&self) -> &'static str {
        "fake"
    }

    fn version(&self) -> Result<String, BuildError> {
        Ok("0-fake".into())
    }

    fn prepare_image(&self, image: &ImageRef) -> Result<String, BuildError> {
        let digest = image.digest().ok_or_else(|| BuildError::Unpinned {
            image: image.to_string(),
        })?;
        Ok(format!("fake-{}", digest.hex()))
    }

    fn run_job(
        &self,
        job: &Job,
        source: &mut dyn Read,
        listing: &Listing,
        store: Option<StoreInput<'_>>,
        log: &mut (dyn Write + Send),
        outputs: &mut dyn Write,
    ) -> Result<RunEnd, BuildError> {
        if let Ok(mut jobs) = self.jobs.lock() {
            jobs.push(job.clone());
        }
        crate::engine::run_in_tree(job, source, listing, store, outputs, |tree, store, _| {
            let io = |e| BuildError::Io {
                path: tree.to_owned(),
                source: e,
            };
            writeln!(log, "fake: {}", job.command.join(" ")).map_err(io)?;
            let end = (self.build)(job, tree, store);
            writeln!(log, "fake: {end:?}").map_err(io)?;
            Ok(end)
        })
    }
}
