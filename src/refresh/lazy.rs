//! Objects kept as the JSON the server sent until someone needs them typed.
//!
//! A resync lists every pod of the cluster to learn that almost none changed. Decoding
//! each into `k8s_openapi`'s `Pod` (hundreds of small allocations per pod: every map a
//! `BTreeMap`, every field an owned `String`) and dropping it again was most of a node's
//! work in a no-change refresh. `Lazy<K>` keeps the object's JSON as received (one scan,
//! one allocation); its identity (name, namespace, uid, resourceVersion) is read only
//! when asked — kube's watcher asks for watch events' resourceVersions — and
//! [`Lazy::typed`] decodes the whole object for the ones that changed.

use std::fmt;
use std::marker::PhantomData;
use std::sync::OnceLock;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

/// An object of kind `K`: its identity, and its JSON as received.
pub struct Lazy<K> {
    /// The identity fields, read from `raw` on first use.
    metadata: OnceLock<ObjectMeta>,
    raw: Box<RawValue>,
    kind: PhantomData<fn() -> K>,
}

impl<K> Lazy<K> {
    /// The object's JSON, as the server sent it.
    pub fn json(&self) -> &str {
        self.raw.get()
    }
}

impl<K: DeserializeOwned> Lazy<K> {
    /// The whole object, decoded.
    pub fn typed(&self) -> Result<K, serde_json::Error> {
        serde_json::from_str(self.raw.get())
    }
}

impl<K> Clone for Lazy<K> {
    fn clone(&self) -> Self {
        Self {
            metadata: self.metadata.clone(),
            raw: self.raw.clone(),
            kind: PhantomData,
        }
    }
}

impl<K> fmt::Debug for Lazy<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.identity();
        f.debug_struct("Lazy")
            .field("namespace", &m.namespace)
            .field("name", &m.name)
            .field("uid", &m.uid)
            .field("resource_version", &m.resource_version)
            .finish_non_exhaustive()
    }
}

/// The identity fields of an object's metadata (the rest is skipped unread).
#[derive(Deserialize)]
struct Identity {
    #[serde(default)]
    metadata: IdentityMeta,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct IdentityMeta {
    name: Option<String>,
    namespace: Option<String>,
    uid: Option<String>,
    resource_version: Option<String>,
}

impl<K> Lazy<K> {
    /// The identity fields (empty where the JSON has none or is not an object's).
    fn identity(&self) -> &ObjectMeta {
        self.metadata.get_or_init(|| {
            let m = serde_json::from_str::<Identity>(self.raw.get())
                .map(|i| i.metadata)
                .unwrap_or_default();
            ObjectMeta {
                name: m.name,
                namespace: m.namespace,
                uid: m.uid,
                resource_version: m.resource_version,
                ..ObjectMeta::default()
            }
        })
    }
}

impl<'de, K> Deserialize<'de> for Lazy<K> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Box::<RawValue>::deserialize(deserializer)?;
        if !raw.get().starts_with('{') {
            return Err(serde::de::Error::custom("expected an object"));
        }
        Ok(Self {
            metadata: OnceLock::new(),
            raw,
            kind: PhantomData,
        })
    }
}

impl<K: k8s_openapi::Resource> k8s_openapi::Resource for Lazy<K> {
    const API_VERSION: &'static str = K::API_VERSION;
    const GROUP: &'static str = K::GROUP;
    const KIND: &'static str = K::KIND;
    const VERSION: &'static str = K::VERSION;
    const URL_PATH_SEGMENT: &'static str = K::URL_PATH_SEGMENT;
    type Scope = K::Scope;
}

impl<K: k8s_openapi::Resource> k8s_openapi::Metadata for Lazy<K> {
    type Ty = ObjectMeta;

    fn metadata(&self) -> &ObjectMeta {
        self.identity()
    }

    fn metadata_mut(&mut self) -> &mut ObjectMeta {
        let _ = self.identity();
        match self.metadata.get_mut() {
            Some(m) => m,
            None => unreachable!("initialised on the line above"),
        }
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::Pod;
    use kube::Resource;

    use super::Lazy;

    #[test]
    fn identity_is_read_and_the_rest_decoded_on_demand() {
        let json = r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"a","namespace":"ns",
            "uid":"u1","resourceVersion":"42","labels":{"app":"web"}},
            "spec":{"containers":[{"name":"c","image":"nginx:1"}]}}"#;
        let lazy: Lazy<Pod> = serde_json::from_str(json).expect("lazy");
        assert_eq!(lazy.meta().uid.as_deref(), Some("u1"));
        assert_eq!(lazy.meta().resource_version.as_deref(), Some("42"));
        assert_eq!(lazy.meta().name.as_deref(), Some("a"));
        assert!(lazy.meta().labels.is_none(), "only identity is read");
        let pod = lazy.typed().expect("typed");
        assert_eq!(
            pod.metadata.labels.and_then(|l| l.get("app").cloned()),
            Some("web".to_string())
        );
        assert_eq!(Lazy::<Pod>::kind(&()), "Pod");
        assert_eq!(Lazy::<Pod>::plural(&()), "pods");
        // Not an object: refused as the typed decode would be.
        assert!(serde_json::from_str::<Lazy<Pod>>("[1]").is_err());
        assert!(serde_json::from_str::<Lazy<Pod>>("{").is_err());
        // A pod that is JSON but not a pod decodes lazily and fails when typed.
        let odd: Lazy<Pod> =
            serde_json::from_str(r#"{"metadata":{"uid":"x"},"spec":{"containers":7}}"#)
                .expect("lazy");
        assert!(odd.typed().is_err());
    }
}
