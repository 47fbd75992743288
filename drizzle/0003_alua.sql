ALTER TABLE `luns` ADD `alua_tg_pt_gp_name` text;--> statement-breakpoint
ALTER TABLE `storage_objects` ADD `alua_tpgs` text DEFAULT '[]' NOT NULL;