CREATE TABLE `discovery_auth` (
	`fabric` text PRIMARY KEY NOT NULL,
	`enabled` integer DEFAULT false NOT NULL,
	`chap_userid` text,
	`chap_password` text,
	`chap_mutual_userid` text,
	`chap_mutual_password` text
);
--> statement-breakpoint
CREATE TABLE `luns` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`tpg_id` integer NOT NULL,
	`lun_index` integer NOT NULL,
	`storage_object_id` integer NOT NULL,
	`alias` text NOT NULL,
	FOREIGN KEY (`tpg_id`) REFERENCES `tpgs`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`storage_object_id`) REFERENCES `storage_objects`(`id`) ON UPDATE no action ON DELETE restrict,
	CONSTRAINT "luns_index_range" CHECK("luns"."lun_index" between 0 and 65535)
);
--> statement-breakpoint
CREATE UNIQUE INDEX `luns_tpg_index` ON `luns` (`tpg_id`,`lun_index`);--> statement-breakpoint
CREATE UNIQUE INDEX `luns_tpg_storage_object` ON `luns` (`tpg_id`,`storage_object_id`);--> statement-breakpoint
CREATE TABLE `mapped_luns` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`node_acl_id` integer NOT NULL,
	`mapped_lun_index` integer NOT NULL,
	`lun_id` integer NOT NULL,
	`write_protect` integer DEFAULT false NOT NULL,
	`alias` text NOT NULL,
	FOREIGN KEY (`node_acl_id`) REFERENCES `node_acls`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`lun_id`) REFERENCES `luns`(`id`) ON UPDATE no action ON DELETE cascade,
	CONSTRAINT "mapped_luns_index_range" CHECK("mapped_luns"."mapped_lun_index" between 0 and 65535)
);
--> statement-breakpoint
CREATE UNIQUE INDEX `mapped_luns_acl_index` ON `mapped_luns` (`node_acl_id`,`mapped_lun_index`);--> statement-breakpoint
CREATE TABLE `node_acls` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`tpg_id` integer NOT NULL,
	`initiator_name` text NOT NULL,
	`tag` text,
	`cmdsn_depth` integer DEFAULT 64 NOT NULL,
	`attributes` text DEFAULT '{}' NOT NULL,
	`chap_userid` text,
	`chap_password` text,
	`chap_mutual_userid` text,
	`chap_mutual_password` text,
	FOREIGN KEY (`tpg_id`) REFERENCES `tpgs`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `node_acls_tpg_initiator` ON `node_acls` (`tpg_id`,`initiator_name`);--> statement-breakpoint
CREATE TABLE `portals` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`tpg_id` integer NOT NULL,
	`ip` text NOT NULL,
	`port` integer DEFAULT 3260 NOT NULL,
	`iser` integer DEFAULT false NOT NULL,
	`offload` integer DEFAULT false NOT NULL,
	FOREIGN KEY (`tpg_id`) REFERENCES `tpgs`(`id`) ON UPDATE no action ON DELETE cascade,
	CONSTRAINT "portals_port_range" CHECK("portals"."port" between 1 and 65535)
);
--> statement-breakpoint
CREATE UNIQUE INDEX `portals_tpg_ip_port` ON `portals` (`tpg_id`,`ip`,`port`);--> statement-breakpoint
CREATE TABLE `settings` (
	`key` text PRIMARY KEY NOT NULL,
	`value` text NOT NULL
);
--> statement-breakpoint
CREATE TABLE `storage_objects` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`plugin` text NOT NULL,
	`name` text NOT NULL,
	`dev` text,
	`size` integer NOT NULL,
	`wwn` text NOT NULL,
	`write_back` integer DEFAULT false NOT NULL,
	`block_size` integer DEFAULT 512 NOT NULL,
	`readonly` integer DEFAULT false NOT NULL,
	`attributes` text DEFAULT '{}' NOT NULL,
	`vendor_id` text,
	`product_id` text,
	`revision` text,
	CONSTRAINT "storage_objects_block_size" CHECK("storage_objects"."block_size" in (512, 4096))
);
--> statement-breakpoint
CREATE UNIQUE INDEX `storage_objects_plugin_name` ON `storage_objects` (`plugin`,`name`);--> statement-breakpoint
CREATE TABLE `targets` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`wwn` text NOT NULL,
	`fabric` text DEFAULT 'iscsi' NOT NULL,
	`parameters` text DEFAULT '{}' NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `targets_wwn` ON `targets` (`wwn`);--> statement-breakpoint
CREATE TABLE `tpgs` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`target_id` integer NOT NULL,
	`tag` integer NOT NULL,
	`enabled` integer DEFAULT true NOT NULL,
	`attributes` text DEFAULT '{}' NOT NULL,
	`parameters` text DEFAULT '{}' NOT NULL,
	`chap_userid` text,
	`chap_password` text,
	`chap_mutual_userid` text,
	`chap_mutual_password` text,
	FOREIGN KEY (`target_id`) REFERENCES `targets`(`id`) ON UPDATE no action ON DELETE cascade,
	CONSTRAINT "tpgs_tag_range" CHECK("tpgs"."tag" between 1 and 65535)
);
--> statement-breakpoint
CREATE UNIQUE INDEX `tpgs_target_tag` ON `tpgs` (`target_id`,`tag`);