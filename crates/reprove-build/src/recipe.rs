//! The `[build]` recipe of `reprove.toml`, read from the tag's tree. The schema, its defaults
//! and its checks live in [`reprove_build_types`], shared with the baseline and the verifier.

pub use reprove_build_types::{DEFAULT_TIMEOUT, Recipe};

use crate::BuildError;

/// Parses `reprove.toml` text at `tag` and validates its `[build]` table.
pub fn parse_recipe(text: &str, tag: &str) -> Result<Recipe, BuildError> {
    Recipe::from_config(text).map_err(|e| BuildError::Recipe {
        tag: tag.to_owned(),
        message: e.message,
    })
}
