//! Function libraries in RDB files and FUNCTION DUMP payloads. Redis 7.0 writes each library
//! as the `FUNCTION2` opcode and its whole code (the `#!lua name=…` line included); files of
//! 7.0's release candidates have the older `FUNCTION` opcode (name, engine, an optional
//! description, then the code without its first line), read here as the code it stands for.
//! A payload is the libraries back to back, then the RDB version and the CRC-64, as a key's
//! DUMP payload.

use super::read::RdbReader;
use super::write::RdbWriter;
use super::{opcodes as op, CRC64, RDB_VERSION};

/// Why a FUNCTION RESTORE payload was refused, with Redis's reply for each case.
#[derive(Debug, thiserror::Error)]
pub enum FunctionsPayloadError {
    #[error("DUMP payload version or checksum are wrong")]
    Footer,
    #[error("can not read data type")]
    Type,
    #[error("given type is not a function")]
    NotAFunction,
    #[error("{0}")]
    Body(String),
}

impl<W: std::io::Write> RdbWriter<W> {
    /// One function library (`FUNCTION2` and its code).
    pub fn function(&mut self, code: &[u8]) -> std::io::Result<()> {
        self.raw_part(&[op::FUNCTION2])?;
        self.string(code)
    }
}

impl<R: std::io::Read> RdbReader<R> {
    /// The body of a `FUNCTION2` (`pre_release` false) or `FUNCTION` opcode, as the library's
    /// code. The error is Redis's text.
    pub(crate) fn function_body(&mut self, pre_release: bool) -> Result<Vec<u8>, String> {
        if !pre_release {
            return self
                .string()
                .map_err(|_| "Failed loading library payload".to_string());
        }
        let name = self
            .string()
            .map_err(|_| "Failed loading library name".to_string())?;
        let engine = self
            .string()
            .map_err(|_| "Failed loading engine name".to_string())?;
        let has_desc = self
            .len()
            .map_err(|_| "Failed loading library description indicator".to_string())?;
        if has_desc != 0 {
            self.string()
                .map_err(|_| "Failed loading library description".to_string())?;
        }
        let blob = self
            .string()
            .map_err(|_| "Failed loading library blob".to_string())?;
        let mut code = b"#!".to_vec();
        code.extend_from_slice(&engine);
        code.extend_from_slice(b" name=");
        code.extend_from_slice(&name);
        code.push(b'\n');
        code.extend_from_slice(&blob);
        Ok(code)
    }
}

/// FUNCTION DUMP of the libraries whose code is in `codes`.
pub fn dump_functions<'a>(codes: impl IntoIterator<Item = &'a [u8]>, compress: bool) -> Vec<u8> {
    let mut w = RdbWriter::part(compress);
    for code in codes {
        // Writing to memory cannot fail.
        let _ = w.function(code);
    }
    let mut out = w.take_part();
    out.extend_from_slice(&(RDB_VERSION as u16).to_le_bytes());
    let crc = CRC64.checksum(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// The libraries' code in a FUNCTION RESTORE payload, after its footer is checked.
pub fn restore_functions(payload: &[u8]) -> Result<Vec<Vec<u8>>, FunctionsPayloadError> {
    let (body, version) =
        super::dump::checked_body(payload).ok_or(FunctionsPayloadError::Footer)?;
    let mut r = RdbReader::bare(body, version);
    let mut codes = Vec::new();
    while (r.offset() as usize) < body.len() {
        let kind = r.byte().map_err(|_| FunctionsPayloadError::Type)?;
        if kind != op::FUNCTION && kind != op::FUNCTION2 {
            return Err(FunctionsPayloadError::NotAFunction);
        }
        let code = r
            .function_body(kind == op::FUNCTION)
            .map_err(FunctionsPayloadError::Body)?;
        codes.push(code);
    }
    Ok(codes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payload_round_trips_and_a_flipped_bit_is_refused() {
        let long = format!("#!lua name=big\n{}", "-- padding\n".repeat(20));
        let codes: Vec<&[u8]> = vec![b"#!lua name=a\nreturn 1", long.as_bytes()];
        let payload = dump_functions(codes.iter().copied(), true);
        let back = restore_functions(&payload).expect("restore");
        assert_eq!(back, vec![codes[0].to_vec(), codes[1].to_vec()]);
        let mut bad = payload.clone();
        bad[3] ^= 1;
        assert!(matches!(
            restore_functions(&bad),
            Err(FunctionsPayloadError::Footer)
        ));
    }

    #[test]
    fn a_key_payload_is_not_a_function() {
        let value = store::Value::Str(store::Str::from_bytes(b"x"));
        let payload = super::super::dump::dump(&value, false);
        assert!(matches!(
            restore_functions(&payload),
            Err(FunctionsPayloadError::NotAFunction)
        ));
    }
}
