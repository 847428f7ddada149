DROP TABLE label_tag_mappings;
DROP TABLE taggings;
DROP TABLE tags;
DROP TABLE categories;
