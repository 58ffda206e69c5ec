DROP TABLE IF EXISTS cluster_checks;
DROP TABLE IF EXISTS node_checks;
