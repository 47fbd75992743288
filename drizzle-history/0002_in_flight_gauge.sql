-- One word per concept (issue 9 item 7): the commands-in-flight gauge is "in flight", not "queue depth"
-- (queue_depth is the storage object attribute, the configured limit). Renames keep the recorded minutes.
ALTER TABLE `minute_stats` RENAME COLUMN `avg_queue_depth` TO `avg_in_flight`;--> statement-breakpoint
ALTER TABLE `minute_stats` RENAME COLUMN `max_queue_depth` TO `max_in_flight`;
