-- ManageIQ's managed tags: categories of tags, tags, and taggings of any object of a
-- collection (taggable_type is the API collection name). Taggings come from a user
-- (source 'manual') or from a Kubernetes label through a mapping (source 'label',
-- kept in step with the labels after every refresh).
CREATE TABLE categories (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    single_value BOOLEAN NOT NULL DEFAULT FALSE,
    created_on TIMESTAMP NOT NULL
);

CREATE TABLE tags (
    id BIGSERIAL PRIMARY KEY,
    category_id BIGINT NOT NULL REFERENCES categories (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    created_on TIMESTAMP NOT NULL,
    UNIQUE (category_id, name)
);

CREATE TABLE taggings (
    tag_id BIGINT NOT NULL REFERENCES tags (id) ON DELETE CASCADE,
    taggable_type TEXT NOT NULL,
    taggable_id BIGINT NOT NULL,
    source TEXT NOT NULL DEFAULT 'manual',
    PRIMARY KEY (tag_id, taggable_type, taggable_id)
);
CREATE INDEX taggings_object ON taggings (taggable_type, taggable_id);

-- A Kubernetes label whose values become tags of a category, for one collection or
-- (collection '') for every collection with labels.
CREATE TABLE label_tag_mappings (
    id BIGSERIAL PRIMARY KEY,
    label_name TEXT NOT NULL,
    collection TEXT NOT NULL DEFAULT '',
    category_id BIGINT NOT NULL REFERENCES categories (id) ON DELETE CASCADE,
    created_on TIMESTAMP NOT NULL,
    UNIQUE (label_name, collection)
);
