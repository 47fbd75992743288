-- One word per concept (issue 9 item 7): the ACL's tag (initiator group) is acl_tag, not the TPG's tag.
-- The rename keeps every ACL's tag. saveconfig.json keeps LIO's key `tag` (server/config/saveconfig.ts).
ALTER TABLE `node_acls` RENAME COLUMN `tag` TO `acl_tag`;
