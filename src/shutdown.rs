//! Shutdown: a signal raised once and observed by every long-lived loop.
//!
//! Implemented as a channel whose only sender is dropped on `trigger`: every pending and future
//! `wait()` then completes at once. Cheap to clone into tasks (an `Rc` of a receiver).

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use smol::channel::{Receiver, Sender, bounded};

/// The runtime's shutdown handle.
#[derive(Clone)]
pub struct Shutdown {
    inner: Rc<Inner>,
}

struct Inner {
    tx: RefCell<Option<Sender<()>>>,
    rx: Receiver<()>,
    reason: RefCell<String>,
    triggered: Cell<bool>,
}

impl Default for Shutdown {
    fn default() -> Self {
        Self::new()
    }
}

impl Shutdown {
    /// A handle that has not been triggered.
    pub fn new() -> Self {
        let (tx, rx) = bounded(1);
        Shutdown {
            inner: Rc::new(Inner {
                tx: RefCell::new(Some(tx)),
                rx,
                reason: RefCell::new(String::new()),
                triggered: Cell::new(false),
            }),
        }
    }

    /// Starts shutdown with a reason (first call wins).
    pub fn trigger(&self, reason: &str) {
        if !self.inner.triggered.replace(true) {
            *self.inner.reason.borrow_mut() = reason.to_string();
            self.inner.tx.borrow_mut().take();
        }
    }

    /// Runs `fut` unless shutdown comes first (`None` then).
    pub async fn unless<T>(&self, fut: impl std::future::Future<Output = T>) -> Option<T> {
        smol::future::or(async { Some(fut.await) }, async {
            self.wait().await;
            None
        })
        .await
    }

    /// Whether shutdown has started.
    pub fn is_triggered(&self) -> bool {
        self.inner.triggered.get()
    }

    /// The reason given to `trigger`.
    pub fn reason(&self) -> String {
        self.inner.reason.borrow().clone()
    }

    /// Completes when shutdown starts (immediately if it already has).
    pub async fn wait(&self) {
        let _ = self.inner.rx.recv().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_completes_after_trigger() {
        let s = Shutdown::new();
        assert!(!s.is_triggered());
        s.trigger("SIGTERM");
        s.trigger("second");
        smol::block_on(s.wait());
        assert_eq!(s.reason(), "SIGTERM");
    }
}
