//! TLS to the server: the CA bundle as the only trust anchor, one connector per bundle.

use super::*;

/// How long the function waits past the server's own bound before it gives up on a
/// statement itself (a server that stopped answering, a bound the server ignored).
pub(super) const BACKSTOP_GRACE: Duration = Duration::from_secs(2);

/// The TLS connector for a CA bundle, built once per bundle: a step logs in two or three
/// times, and a warm Lambda container serves many steps.
pub(super) fn tls_connector(bundle: &Path) -> Result<MakeRustlsConnect, String> {
    static CACHE: OnceLock<Mutex<HashMap<PathBuf, MakeRustlsConnect>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(connector) = cache.lock().unwrap_or_else(|e| e.into_inner()).get(bundle) {
        return Ok(connector.clone());
    }
    let connector = MakeRustlsConnect::new(client_config(bundle)?);
    cache
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(bundle.to_owned(), connector.clone());
    Ok(connector)
}

/// A rustls configuration whose only trust anchors are the certificates of `bundle`.
///
/// The root store starts empty and is never given the web PKI or the system store: whoever
/// holds a publicly trusted certificate for the database's host name must not pass.
pub fn client_config(bundle: &Path) -> Result<ClientConfig, String> {
    let name = bundle.display();
    let pem =
        std::fs::read(bundle).map_err(|e| format!("cannot read the CA bundle `{name}`: {e}"))?;
    let mut certificates = Vec::new();
    for certificate in CertificateDer::pem_slice_iter(&pem) {
        certificates.push(
            certificate.map_err(|e| format!("the CA bundle `{name}` is not valid PEM: {e}"))?,
        );
    }
    let mut roots = rustls::RootCertStore::empty();
    // A bundle with one odd certificate among many (RDS ships dozens) still serves; a bundle
    // with none usable is an error.
    let (_, unusable) = roots.add_parsable_certificates(certificates);
    if roots.is_empty() {
        return Err(format!(
            "the CA bundle `{name}` holds no usable certificate{}",
            if unusable > 0 {
                format!(" ({unusable} could not be parsed)")
            } else {
                String::new()
            }
        ));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS configuration: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}
