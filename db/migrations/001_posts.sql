-- The message board's posts, and the heartbeat the apps measure replica lag with.
CREATE TABLE posts (
    id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    author VARCHAR(64) NOT NULL,
    body TEXT NOT NULL,
    created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE heartbeat (
    host VARCHAR(64) NOT NULL PRIMARY KEY,
    ts DATETIME(6) NOT NULL
) ENGINE=InnoDB;
