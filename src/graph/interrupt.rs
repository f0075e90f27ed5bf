//! Interrupting one caller's requests on an agent that many share: each pooled
//! connection knows whose request it carries now, so that a cancel shuts down that
//! caller's connection (interrupting a blocked read or write at once) and no other.
//!
//! A request runs on its caller's thread: while it does, the caller's [`Interrupt`]
//! is this thread's current one. The outermost transport of every connection claims
//! the connection for the current interrupt on each read and write; a new socket is
//! known to it from its first byte, TLS handshake included.

use std::cell::RefCell;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};

use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, NextTimeout, ShutdownHandle, Transport,
};

thread_local! {
    /// The interrupt of the request running on this thread, if any.
    static CURRENT: RefCell<Option<Arc<Interrupt>>> = const { RefCell::new(None) };
    /// The socket the connector chain made last on this thread, for the outermost
    /// transport to take.
    static NEW_SOCKET: RefCell<Option<Weak<dyn ShutdownHandle>>> = const { RefCell::new(None) };
}

/// One caller's cancel switch for its requests (a session's, shared with its cancel
/// handles).
#[derive(Default)]
pub(crate) struct Interrupt {
    cancelled: AtomicBool,
    /// The connection carrying this caller's request now, or the socket being made for
    /// it.
    using: Mutex<Using>,
}

#[derive(Default)]
struct Using {
    conn: Option<Weak<Conn>>,
    socket: Option<Weak<dyn ShutdownHandle>>,
}

impl fmt::Debug for Interrupt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Interrupt")
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}

impl Interrupt {
    /// True once cancelled (until [`Interrupt::clear`]).
    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
    }

    /// The flag itself, for readers that poll it (the request body).
    pub fn flag(&self) -> &AtomicBool {
        &self.cancelled
    }

    /// Sets the flag without touching any connection (a caller's own decision to stop).
    pub fn set(&self) {
        self.cancelled.store(true, Ordering::SeqCst);
    }

    /// Clears the flag; true when it was set.
    pub fn clear(&self) -> bool {
        self.cancelled.swap(false, Ordering::SeqCst)
    }

    /// Cancels: the flag, and a shutdown of the connection (or the new socket) this
    /// caller's request is using, if it still is. Other callers' connections are not
    /// touched.
    pub fn cancel(self: &Arc<Self>) {
        self.cancelled.store(true, Ordering::SeqCst);
        let using = std::mem::take(&mut *self.using.lock().unwrap_or_else(|e| e.into_inner()));
        if let Some(conn) = using.conn.and_then(|c| c.upgrade()) {
            if conn.owned_by(self) {
                conn.shutdown();
            }
        }
        if let Some(socket) = using.socket.and_then(|s| s.upgrade()) {
            socket.shutdown();
        }
    }

    fn claim(self: &Arc<Self>, conn: &Arc<Conn>) {
        *conn.owner.lock().unwrap_or_else(|e| e.into_inner()) = Arc::downgrade(self);
        let mut using = self.using.lock().unwrap_or_else(|e| e.into_inner());
        using.conn = Some(Arc::downgrade(conn));
        using.socket = None;
    }

    /// Makes this the current interrupt of the thread until the guard drops; then the
    /// connection used goes back to no one, so that a later cancel reaches no pooled
    /// connection another caller may take.
    pub fn during(self: &Arc<Self>) -> During {
        CURRENT.with(|c| *c.borrow_mut() = Some(self.clone()));
        During(self.clone())
    }
}

/// While it lives, its interrupt is the current one of the thread.
pub(crate) struct During(Arc<Interrupt>);

impl Drop for During {
    fn drop(&mut self) {
        CURRENT.with(|c| *c.borrow_mut() = None);
        let using = std::mem::take(&mut *self.0.using.lock().unwrap_or_else(|e| e.into_inner()));
        if let Some(conn) = using.conn.and_then(|c| c.upgrade()) {
            if conn.owned_by(&self.0) {
                *conn.owner.lock().unwrap_or_else(|e| e.into_inner()) = Weak::new();
            }
        }
    }
}

/// One pooled connection: its socket and whose request it carries.
struct Conn {
    socket: Option<Weak<dyn ShutdownHandle>>,
    owner: Mutex<Weak<Interrupt>>,
}

impl Conn {
    fn owned_by(&self, i: &Arc<Interrupt>) -> bool {
        let owner = self.owner.lock().unwrap_or_else(|e| e.into_inner());
        std::ptr::eq(owner.as_ptr(), Arc::as_ptr(i))
    }

    fn shutdown(&self) {
        if let Some(s) = self.socket.as_ref().and_then(|s| s.upgrade()) {
            s.shutdown();
        }
    }
}

/// The socket a connector just made: the current interrupt may shut it down during
/// the rest of the connection's making (a TLS handshake, a proxy's CONNECT), and the
/// outermost transport takes it.
pub(super) fn socket_made(socket: Weak<dyn ShutdownHandle>) {
    CURRENT.with(|c| {
        if let Some(i) = &*c.borrow() {
            i.using.lock().unwrap_or_else(|e| e.into_inner()).socket = Some(socket.clone());
        }
    });
    NEW_SOCKET.with(|s| *s.borrow_mut() = Some(socket));
}

/// The details of a connection, with the socket's shutdown handle also told to
/// [`socket_made`].
pub(super) fn watching_sockets<'a>(details: &ConnectionDetails<'a>) -> ConnectionDetails<'a> {
    let register = details.register_shutdown.clone();
    ConnectionDetails {
        uri: details.uri,
        addrs: details.addrs.clone(),
        config: details.config,
        request_level: details.request_level,
        resolver: details.resolver,
        now: details.now,
        timeout: details.timeout,
        current_time: details.current_time.clone(),
        run_connector: details.run_connector.clone(),
        register_shutdown: Arc::new(move |h: Weak<dyn ShutdownHandle>| {
            socket_made(h.clone());
            register(h)
        }),
    }
}

/// The last connector of the chain: wraps every connection in a [`Tracked`] transport.
#[derive(Debug)]
pub(super) struct Tracking;

impl<In: Transport> Connector<In> for Tracking {
    type Out = Tracked;

    fn connect(
        &self,
        _: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        let Some(inner) = chained else {
            return Ok(None);
        };
        let socket = NEW_SOCKET.with(|s| s.borrow_mut().take());
        Ok(Some(Tracked {
            inner: Box::new(inner),
            conn: Arc::new(Conn {
                socket,
                owner: Mutex::new(Weak::new()),
            }),
        }))
    }
}

/// A connection that, on every read and write, belongs to the current interrupt.
pub(super) struct Tracked {
    inner: Box<dyn Transport>,
    conn: Arc<Conn>,
}

impl fmt::Debug for Tracked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tracked")
            .field("inner", &self.inner)
            .finish()
    }
}

impl Tracked {
    /// Claims the connection for the current interrupt; an error when it is cancelled.
    fn claim(&self) -> Result<(), ureq::Error> {
        CURRENT.with(|c| match &*c.borrow() {
            Some(i) if i.is_cancelled() => Err(ureq::Error::Io(std::io::Error::new(
                std::io::ErrorKind::Interrupted,
                "cancelled",
            ))),
            Some(i) => {
                i.claim(&self.conn);
                Ok(())
            }
            None => Ok(()),
        })
    }
}

impl Transport for Tracked {
    fn buffers(&mut self) -> &mut dyn Buffers {
        self.inner.buffers()
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        self.claim()?;
        self.inner.transmit_output(amount, timeout)
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.claim()?;
        self.inner.await_input(timeout)
    }

    fn is_open(&mut self) -> bool {
        self.inner.is_open()
    }

    fn is_tls(&self) -> bool {
        self.inner.is_tls()
    }
}
