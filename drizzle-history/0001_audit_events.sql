CREATE TABLE `audit_events` (
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
	`detail` text,
	`count` integer DEFAULT 1 NOT NULL,
	`last_at` integer
);
--> statement-breakpoint
CREATE INDEX `audit_events_at` ON `audit_events` (`at`);--> statement-breakpoint
CREATE INDEX `audit_events_type_at` ON `audit_events` (`type`,`at`);--> statement-breakpoint
ALTER TABLE `events` ADD `count` integer DEFAULT 1 NOT NULL;--> statement-breakpoint
ALTER TABLE `events` ADD `last_at` integer;--> statement-breakpoint
INSERT INTO `audit_events` (`id`, `at`, `type`, `target_name`, `tpg_tag`, `initiator_name`, `session_id`, `remote`, `lun`, `actor`, `reason`, `message`, `detail`)
  SELECT `id`, `at`, `type`, `target_name`, `tpg_tag`, `initiator_name`, `session_id`, `remote`, `lun`, `actor`, `reason`, `message`, `detail` FROM `events` WHERE `type` = 'config' ORDER BY `id`;--> statement-breakpoint
DELETE FROM `events` WHERE `type` = 'config';
