//! The Lua debugger's connection (SCRIPT DEBUG SYNC): while a debugging session runs, the
//! script's thread talks to the client itself with blocking reads and writes on the socket,
//! as Redis does from inside its Lua hook (the connection's own loop is inside the EVAL).

/// Most a write waits for the client to take bytes (Redis's 5 s send timeout).
const SEND_TIMEOUT_MS: i32 = 5000;

/// The client's socket, used directly while the session lasts.
pub struct FdIo {
    fd: i32,
}

impl FdIo {
    pub fn new(fd: i32) -> FdIo {
        FdIo { fd }
    }

    /// Wait until the socket is ready for `events`, up to `timeout_ms` (-1: no limit).
    fn wait(&self, events: libc::c_short, timeout_ms: i32) -> bool {
        let mut pfd = libc::pollfd {
            fd: self.fd,
            events,
            revents: 0,
        };
        loop {
            // SAFETY: one valid pollfd.
            let n = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
            if n > 0 {
                return true;
            }
            if n == 0 {
                return false;
            }
            if std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
                return false;
            }
        }
    }
}

impl scripting::ldb::DebugIo for FdIo {
    fn write(&mut self, bytes: &[u8]) {
        let mut sent = 0;
        while sent < bytes.len() {
            let rest = &bytes[sent..];
            // SAFETY: `rest` is valid for its length; the fd is the client's socket.
            let n = unsafe { libc::write(self.fd, rest.as_ptr().cast(), rest.len()) };
            if n > 0 {
                sent += n as usize;
                continue;
            }
            let e = std::io::Error::last_os_error();
            match e.kind() {
                std::io::ErrorKind::Interrupted => {}
                std::io::ErrorKind::WouldBlock if self.wait(libc::POLLOUT, SEND_TIMEOUT_MS) => {}
                _ => return,
            }
        }
    }

    fn read(&mut self, buf: &mut [u8]) -> usize {
        loop {
            // SAFETY: `buf` is valid for its length; the fd is the client's socket.
            let n = unsafe { libc::read(self.fd, buf.as_mut_ptr().cast(), buf.len()) };
            if n >= 0 {
                return n as usize;
            }
            let e = std::io::Error::last_os_error();
            match e.kind() {
                std::io::ErrorKind::Interrupted => {}
                std::io::ErrorKind::WouldBlock if self.wait(libc::POLLIN, -1) => {}
                _ => return 0,
            }
        }
    }
}
