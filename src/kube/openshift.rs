//! OpenShift's `image.openshift.io/v1` Image, which `k8s-openapi` does not type: read
//! as a [`DynamicObject`] and kept to what the inventory needs.

use kube::api::{ApiResource, DynamicObject};

/// The API resource of OpenShift images.
pub fn image_resource() -> ApiResource {
    ApiResource {
        group: "image.openshift.io".into(),
        version: "v1".into(),
        api_version: "image.openshift.io/v1".into(),
        kind: "Image".into(),
        plural: "images".into(),
    }
}

/// An OpenShift image: its name (the digest), reference and Docker metadata.
#[derive(Debug, Clone, Default)]
pub struct OpenShiftImage {
    pub name: String,
    pub uid: String,
    pub docker_image_reference: String,
    pub docker_image_metadata: serde_json::Value,
}

impl From<&DynamicObject> for OpenShiftImage {
    fn from(o: &DynamicObject) -> Self {
        OpenShiftImage {
            name: o.metadata.name.clone().unwrap_or_default(),
            uid: o.metadata.uid.clone().unwrap_or_default(),
            docker_image_reference: o
                .data
                .get("dockerImageReference")
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string(),
            docker_image_metadata: o
                .data
                .get("dockerImageMetadata")
                .cloned()
                .unwrap_or(serde_json::Value::Null),
        }
    }
}
