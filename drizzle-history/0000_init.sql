CREATE TABLE `events` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`at` integer NOT NULL,
	`type` text NOT NULL,
	`target_name` text,
	`tpg_tag` integer,
	`initiator_name` text,
	`session_id` text,
	`remote` text,
	`lun` integer,
	`actor` text,
	`reason` text,
	`message` text,
	`detail` text
);
--> statement-breakpoint
CREATE INDEX `events_at` ON `events` (`at`);--> statement-breakpoint
CREATE INDEX `events_type_at` ON `events` (`type`,`at`);--> statement-breakpoint
CREATE TABLE `minute_stats` (
	`minute` integer NOT NULL,
	`scope` text NOT NULL,
	`key` text NOT NULL,
	`target_name` text,
	`tpg_tag` integer,
	`lun` integer,
	`storage_object` text,
	`initiator_name` text,
	`samples` integer NOT NULL,
	`read_commands` real NOT NULL,
	`write_commands` real NOT NULL,
	`other_commands` real NOT NULL,
	`read_bytes` real NOT NULL,
	`write_bytes` real NOT NULL,
	`errors` real NOT NULL,
	`read_p50_us` real NOT NULL,
	`read_p99_us` real NOT NULL,
	`read_max_us` real NOT NULL,
	`write_p50_us` real NOT NULL,
	`write_p99_us` real NOT NULL,
	`write_max_us` real NOT NULL,
	`avg_queue_depth` real NOT NULL,
	`max_queue_depth` real NOT NULL,
	PRIMARY KEY(`scope`, `key`, `minute`)
);
--> statement-breakpoint
CREATE INDEX `minute_stats_minute` ON `minute_stats` (`minute`);--> statement-breakpoint
CREATE TABLE `monitor_settings` (
	`key` text PRIMARY KEY NOT NULL,
	`value` text NOT NULL
);
