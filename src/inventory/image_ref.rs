//! Image references as Docker reads them: `[registry[:port]/]repo[:tag][@sha256:…]`,
//! with `docker.io/library/` implied for bare names.

/// The parts of an image reference.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ImageName {
    pub registry_host: String,
    pub registry_port: String,
    /// Repository path, e.g. `app/api` or `library/nginx`.
    pub name: String,
    pub tag: String,
    /// `sha256:…` when the reference pins one.
    pub digest: String,
}

impl ImageName {
    /// `host[:port]`, the registry's identity.
    pub fn registry(&self) -> String {
        if self.registry_port.is_empty() {
            self.registry_host.clone()
        } else {
            format!("{}:{}", self.registry_host, self.registry_port)
        }
    }
}

/// Splits an image reference into registry, repository, tag and digest.
pub fn parse_image(reference: &str) -> ImageName {
    let reference = reference.trim();
    let (rest, digest) = match reference.split_once('@') {
        Some((r, d)) => (r, d.to_string()),
        None => (reference, String::new()),
    };
    let (first, remainder) = match rest.split_once('/') {
        Some((first, remainder))
            if first.contains('.') || first.contains(':') || first == "localhost" =>
        {
            (Some(first), remainder)
        }
        _ => (None, rest),
    };
    let (registry_host, registry_port) = match first {
        Some(registry) => match registry.rsplit_once(':') {
            Some((host, port)) => (host.to_string(), port.to_string()),
            None => (registry.to_string(), String::new()),
        },
        None => ("docker.io".to_string(), String::new()),
    };
    let (path, tag) = match remainder.rsplit_once(':') {
        Some((path, tag)) if !tag.contains('/') => (path, tag.to_string()),
        _ => (remainder, String::new()),
    };
    let name = if first.is_none() && !path.contains('/') {
        format!("library/{path}")
    } else {
        path.to_string()
    };
    let tag = if tag.is_empty() && digest.is_empty() {
        "latest".to_string()
    } else {
        tag
    };
    ImageName {
        registry_host,
        registry_port,
        name,
        tag,
        digest,
    }
}

/// The `sha256:…` digest in a container status's `imageID`
/// (`docker-pullable://repo@sha256:…`, `docker://sha256:…`, `sha256:…`).
pub fn digest_of(image_id: &str) -> Option<String> {
    image_id
        .find("sha256:")
        .map(|at| image_id[at..].to_string())
        .filter(|d| d.len() > "sha256:".len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_split_like_docker_reads_them() {
        let i = parse_image("registry.example.com:5000/app/api:1.4.2");
        assert_eq!(
            (i.registry(), i.name.as_str(), i.tag.as_str()),
            ("registry.example.com:5000".to_string(), "app/api", "1.4.2")
        );
        let i = parse_image("nginx:1.27");
        assert_eq!(
            (i.registry(), i.name.as_str(), i.tag.as_str()),
            ("docker.io".to_string(), "library/nginx", "1.27")
        );
        let i = parse_image("quay.io/org/worker@sha256:abc");
        assert_eq!(
            (i.registry_host.as_str(), i.tag.as_str(), i.digest.as_str()),
            ("quay.io", "", "sha256:abc")
        );
        let i = parse_image("localhost:5000/x");
        assert_eq!(
            (i.registry(), i.tag.as_str()),
            ("localhost:5000".to_string(), "latest")
        );
        let i = parse_image("org/app");
        assert_eq!(
            (i.registry_host.as_str(), i.name.as_str()),
            ("docker.io", "org/app")
        );
    }

    #[test]
    fn digests_are_found_in_image_ids() {
        assert_eq!(
            digest_of("docker-pullable://r/x@sha256:ab12").as_deref(),
            Some("sha256:ab12")
        );
        assert_eq!(digest_of("sha256:ff").as_deref(), Some("sha256:ff"));
        assert_eq!(digest_of("containerd://1234"), None);
    }
}
