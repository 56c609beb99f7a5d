//! An administrator's change to the configuration, from a form or the
//! API: validated by the caller's edit, saved and applied through
//! `ConfigHandle::update` off the async runtime, and recorded as made by
//! the visitor (user and client) in the *Object modified* event.

use super::AppState;
use super::guard::Visitor;
use crate::config::{Author, Config, UpdateError};

/// Why a change was not made.
pub enum Refused<E> {
    /// The edit refused the new values; `E` says how to show why.
    Invalid(E),
    /// The file could not be written; nothing changed.
    Save(String),
}

/// Apply `edit` (old configuration → new one, or the reasons it is
/// refused) for `visitor`.
pub async fn update<E: Send + 'static>(
    state: &AppState,
    visitor: &Visitor,
    edit: impl FnOnce(&Config) -> Result<Config, E> + Send + 'static,
) -> Result<(), Refused<E>> {
    let author = Author { user: visitor.user().into(), client_ip: visitor.client_ip.to_string() };
    let config = state.config.clone();
    let done = tokio::task::spawn_blocking(move || {
        let mut refused = None;
        let result = config.update(author, |old| {
            edit(old).map_err(|why| {
                refused = Some(why);
                Vec::new()
            })
        });
        (result, refused)
    })
    .await;
    match done {
        Ok((Ok(()), _)) => Ok(()),
        Ok((Err(UpdateError::Invalid(_)), Some(why))) => Err(Refused::Invalid(why)),
        Ok((Err(UpdateError::Invalid(problems)), None)) => {
            Err(Refused::Save(problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")))
        }
        Ok((Err(UpdateError::Save(why)), _)) => Err(Refused::Save(why)),
        Err(e) => Err(Refused::Save(e.to_string())),
    }
}
