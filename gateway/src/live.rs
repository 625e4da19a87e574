//! Support responses still streaming, by grant, so that a revoke, an expiry or a seat
//! release also ends what is already in flight (SPEC §7). New requests are refused by
//! the pipeline itself; this closes the streams that began before.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use support_access_core::grant::GrantStatus;
use support_access_core::ids::{GrantId, StaffId};
use support_access_core::{GrantStore, StoreError};
use tokio::sync::watch;

use crate::body::BoxError;

#[derive(Debug)]
struct Entry {
    ended: watch::Sender<bool>,
    actor: StaffId,
    streams: usize,
}

/// The grants with support responses in flight.
#[derive(Debug, Default)]
pub struct LiveGrants {
    entries: Mutex<HashMap<(GrantId, StaffId), Entry>>,
}

impl LiveGrants {
    /// Registers a stream of `actor` under `grant`; the stream ends with an error once
    /// the grant ends for that actor.
    pub fn guard(self: &Arc<Self>, grant: GrantId, actor: &StaffId, body: Incoming) -> Revocable {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = entries
            .entry((grant, actor.clone()))
            .or_insert_with(|| Entry {
                ended: watch::channel(false).0,
                actor: actor.clone(),
                streams: 0,
            });
        entry.streams += 1;
        let mut ended = entry.ended.subscribe();
        Revocable {
            body,
            ended: Box::pin(async move {
                let _ = ended.wait_for(|ended| *ended).await;
            }),
            _registration: Registration {
                live: self.clone(),
                key: (grant, actor.clone()),
            },
        }
    }

    /// Ends every stream of `grant`.
    pub fn end(&self, grant: GrantId) {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        for ((id, _), entry) in entries.iter() {
            if *id == grant {
                let _ = entry.ended.send(true);
            }
        }
    }

    /// Checks every grant with streams in flight against the store at `now`, and ends the
    /// streams of those no longer active or whose actor no longer holds the seat. A store
    /// error leaves the streams alone (the next check decides).
    pub async fn recheck(&self, grants: &dyn GrantStore, now: DateTime<Utc>) {
        let keys: Vec<(GrantId, StaffId)> = {
            let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
            entries.keys().cloned().collect()
        };
        for (grant, actor) in keys {
            let over = match grants.get(grant).await {
                Ok(g) => {
                    g.status_at(now) != GrantStatus::Active
                        || g.seat.as_ref().is_none_or(|seat| seat.holder != actor)
                }
                Err(StoreError::NotFound) => true,
                Err(_) => false,
            };
            if over {
                let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
                if let Some(entry) = entries.get(&(grant, actor.clone())) {
                    tracing::info!(%grant, actor = %entry.actor, "support access ended: closing streams in flight");
                    let _ = entry.ended.send(true);
                }
            }
        }
    }

    /// How many streams are in flight.
    pub fn streams(&self) -> usize {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries.values().map(|e| e.streams).sum()
    }
}

#[derive(Debug)]
struct Registration {
    live: Arc<LiveGrants>,
    key: (GrantId, StaffId),
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut entries = self
            .live
            .entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(entry) = entries.get_mut(&self.key) {
            entry.streams -= 1;
            if entry.streams == 0 {
                entries.remove(&self.key);
            }
        }
    }
}

/// A support response body that ends with an error when its grant ends.
pub struct Revocable {
    body: Incoming,
    ended: Pin<Box<dyn std::future::Future<Output = ()> + Send>>,
    _registration: Registration,
}

impl std::fmt::Debug for Revocable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Revocable").finish_non_exhaustive()
    }
}

/// The error a revoked stream ends with.
#[derive(Debug, thiserror::Error)]
#[error("support access ended while the response was streaming")]
pub struct AccessEnded;

impl http_body::Body for Revocable {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if self.ended.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Some(Err(Box::new(AccessEnded))));
        }
        Pin::new(&mut self.body).poll_frame(cx).map_err(Into::into)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
