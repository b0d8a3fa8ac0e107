SELECT count(commerce.ack(tenant_id, message_id, 'printer-' || :client_id))
  FROM commerce.claim('waybill.print', 'printer-' || :client_id, 50);
