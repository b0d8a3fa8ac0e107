-- sql/src/crm/api.sql: the CRM for HTTP clients. Store staff (the WeCom
-- sidebar), HQ operators and services read the customer 360 and tag; HQ
-- defines tags, segments, growth levels and SLAs and exports segments;
-- services report interactions; customers open and follow their own tickets,
-- staff handle them.

-- Who did it, as CRM histories record it: <kind>:<subject>.
CREATE FUNCTION commerce._api_by(a commerce.actor) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT left(a.kind || ':' || coalesce(a.subject, ''), 200);
$$;
COMMENT ON FUNCTION commerce._api_by(commerce.actor) IS
  'The actor of an API call as the CRM''s histories record it (tag_change, segment_run, ticket_event): <kind>:<subject>.';

CREATE FUNCTION commerce_api.customer_360(customer text DEFAULT NULL, phone text DEFAULT NULL, wecom_external text DEFAULT NULL,
                                          orders_before bigint DEFAULT NULL, page_size integer DEFAULT 20)
RETURNS jsonb LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.customer_360', '{store,operator,service}');
BEGIN
    RETURN commerce.customer_360(a.tenant_id,
                                 commerce.find_person(a.tenant_id, customer_360.customer, customer_360.phone,
                                                      customer_360.wecom_external),
                                 customer_360.orders_before, customer_360.page_size);
END $$;
REVOKE ALL ON FUNCTION commerce_api.customer_360(text, text, text, bigint, integer) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.customer_360(text, text, text, bigint, integer) IS
  'The customer 360 (CRM01-CRM05; the WeCom sidebar, PR02): the person found by exactly one of customer code, phone or WeCom external user id, with profile, orders newest first (page_size at a time; pass orders.next_before as orders_before for the next page), interactions, KOC contribution and tickets. Phone and name are masked unless the caller reads PII. Store staff, HQ operators and services.';

CREATE FUNCTION commerce_api.record_event(request_id text, customer text, kind text, ref text DEFAULT NULL,
                                          note text DEFAULT NULL, at timestamptz DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.record_event', '{service}');
BEGIN
    RETURN commerce.record_crm_event(a.tenant_id, record_event.customer, record_event.kind, record_event.request_id,
                                     record_event.ref, record_event.note, left(coalesce(a.subject, 'service'), 64),
                                     record_event.at);
END $$;
REVOKE ALL ON FUNCTION commerce_api.record_event(text, text, text, text, text, timestamptz) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.record_event(text, text, text, text, text, timestamptz) IS
  'A service reports an interaction of a customer once per request_id (CRM03, CRM11): browse, consultation, complaint, praise, activity, koc_promotion, joined_group / left_group (ref: the group) or custom.<name>. Returns the event id (the first one''s on a retry).';

-- The shape of a tag.
CREATE VIEW commerce_api.tag_view AS
SELECT NULL::text AS tag, NULL::text AS name, NULL::text AS category, NULL::text AS source, NULL::text AS tagged_by,
       NULL::timestamptz AS tagged_at
 WHERE false;
COMMENT ON VIEW commerce_api.tag_view IS
  E'@omit all\nA tag of a person: its code, name, category, source (manual, rule, model), who set it (staff:<code>, service:<name>, rule:<tag>, model:<version>) and when.';

CREATE FUNCTION commerce_api.customer_tags(customer text)
RETURNS SETOF commerce_api.tag_view LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.customer_tags', '{store,operator,service}');
BEGIN
    RETURN QUERY SELECT * FROM commerce.person_tags(a.tenant_id, commerce.find_person(a.tenant_id, customer_tags.customer));
END $$;
REVOKE ALL ON FUNCTION commerce_api.customer_tags(text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.customer_tags(text) IS
  'The tags of a customer''s person (tag_view). Store staff, HQ operators and services.';

CREATE FUNCTION commerce_api.set_tag(customer text, tag text, tagged boolean DEFAULT true)
RETURNS boolean LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.set_tag', '{store,operator,service}');
BEGIN
    RETURN commerce.set_person_tag(a.tenant_id, set_tag.customer, set_tag.tag, set_tag.tagged, commerce._api_by(a));
END $$;
REVOKE ALL ON FUNCTION commerce_api.set_tag(text, text, boolean) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.set_tag(text, text, boolean) IS
  'Set (tagged true, the default) or clear (false) a manual tag on a customer''s person (CRM06), recorded with the caller''s kind and code; true when something changed. Rule and model tags are refused (PT409). Store staff, HQ operators and services.';

CREATE FUNCTION commerce_api.upsert_tag_category(code text, name text, kind text)
RETURNS void LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.upsert_tag_category', '{operator}');
BEGIN
    PERFORM commerce.upsert_tag_category(a.tenant_id, upsert_tag_category.code, upsert_tag_category.name, upsert_tag_category.kind);
END $$;
REVOKE ALL ON FUNCTION commerce_api.upsert_tag_category(text, text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.upsert_tag_category(text, text, text) IS
  'HQ creates or renames a tag category: demographic, behaviour, value, custom or model (CRM06).';

CREATE FUNCTION commerce_api.create_tag(code text, name text, category text, source text DEFAULT 'manual', rule jsonb DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.create_tag', '{operator}');
BEGIN
    RETURN commerce.create_tag(a.tenant_id, create_tag.code, create_tag.name, create_tag.category, create_tag.source,
                               create_tag.rule, commerce._api_by(a));
END $$;
REVOKE ALL ON FUNCTION commerce_api.create_tag(text, text, text, text, jsonb) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.create_tag(text, text, text, text, jsonb) IS
  'HQ creates a tag (CRM06): manual, model, or rule with its condition tree (as for segments; the matching persons are tagged at once and kept current). Renames it, or gives a rule tag a new rule, when it exists. Returns the tag id.';

-- The shape of a segment.
CREATE VIEW commerce_api.segment_view AS
SELECT NULL::text AS code, NULL::text AS kind, NULL::text AS name, NULL::jsonb AS definition, NULL::integer AS version,
       NULL::boolean AS active, NULL::bigint AS members, NULL::timestamptz AS rebuilt_at, NULL::timestamptz AS updated_at
 WHERE false;
COMMENT ON VIEW commerce_api.segment_view IS
  E'@omit all\nA segment or a rule tag''s rule: its code, kind (segment, tag), name, condition tree, version, whether it is kept current, its members now, when it was last rebuilt in full and last changed.';

CREATE FUNCTION commerce_api.segments(kind text DEFAULT 'segment')
RETURNS SETOF commerce_api.segment_view LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.segments', '{operator,service}');
BEGIN
    RETURN QUERY
    SELECT g.code, g.kind, g.name, g.definition, g.version, g.active,
           (SELECT count(*) FROM commerce.segment_member m WHERE m.tenant_id = g.tenant_id AND m.segment_id = g.segment_id),
           g.rebuilt_at, g.updated_at
      FROM commerce.segment g WHERE g.tenant_id = a.tenant_id AND g.kind = segments.kind ORDER BY g.code;
END $$;
REVOKE ALL ON FUNCTION commerce_api.segments(text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.segments(text) IS
  'The tenant''s segments (kind segment) or rule tags'' rules (tag), with their members now (segment_view). HQ operators and services.';

CREATE FUNCTION commerce_api.define_segment(code text, name text, tree jsonb)
RETURNS SETOF commerce_api.segment_view LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.define_segment', '{operator}');
BEGIN
    PERFORM commerce.define_segment(a.tenant_id, define_segment.code, define_segment.name, define_segment.tree, 'segment',
                                    commerce._api_by(a));
    RETURN QUERY
    SELECT g.code, g.kind, g.name, g.definition, g.version, g.active,
           (SELECT count(*) FROM commerce.segment_member m WHERE m.tenant_id = g.tenant_id AND m.segment_id = g.segment_id),
           g.rebuilt_at, g.updated_at
      FROM commerce.segment g WHERE g.tenant_id = a.tenant_id AND g.kind = 'segment' AND g.code = define_segment.code;
END $$;
REVOKE ALL ON FUNCTION commerce_api.define_segment(text, text, jsonb) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.define_segment(text, text, jsonb) IS
  'HQ defines a segment (人群包, CRM08) by its condition tree (docs/crm.md; 22023 names the JSON path of a bad node), or gives it a new tree (a new version); built at once and kept current. Returns it (segment_view).';

CREATE FUNCTION commerce_api.rebuild_segment(code text)
RETURNS SETOF commerce_api.segment_view LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.rebuild_segment', '{operator}');
BEGIN
    PERFORM commerce.rebuild_segment(a.tenant_id, rebuild_segment.code, 'segment', commerce._api_by(a));
    RETURN QUERY
    SELECT g.code, g.kind, g.name, g.definition, g.version, g.active,
           (SELECT count(*) FROM commerce.segment_member m WHERE m.tenant_id = g.tenant_id AND m.segment_id = g.segment_id),
           g.rebuilt_at, g.updated_at
      FROM commerce.segment g WHERE g.tenant_id = a.tenant_id AND g.kind = 'segment' AND g.code = rebuild_segment.code;
END $$;
REVOKE ALL ON FUNCTION commerce_api.rebuild_segment(text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.rebuild_segment(text) IS
  'HQ rebuilds a segment in full now (one at a time per segment: PT409 while another rebuild runs). Returns it (segment_view).';

CREATE FUNCTION commerce_api.override_segment(code text, customer text, mode text)
RETURNS void LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.override_segment', '{operator}');
BEGIN
    PERFORM commerce.override_segment(a.tenant_id, override_segment.code, override_segment.customer, override_segment.mode,
                                      commerce._api_by(a));
END $$;
REVOKE ALL ON FUNCTION commerce_api.override_segment(text, text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.override_segment(text, text, text) IS
  'HQ includes a customer''s person in a segment or excludes it by hand (mode include / exclude; NULL follows the tree again); kept through every rebuild.';

-- The shape of an exported member.
CREATE VIEW commerce_api.segment_export_row AS
SELECT NULL::bigint AS person_id, NULL::text AS member, NULL::text AS phone WHERE false;
COMMENT ON VIEW commerce_api.segment_export_row IS
  E'@omit all\nA member of an exported segment: the person, its member id (first account''s code) and phone (masked, plain, sha256 or encrypted as asked).';

CREATE FUNCTION commerce_api.export_segment(code text, mode text DEFAULT 'masked', key text DEFAULT NULL)
RETURNS SETOF commerce_api.segment_export_row LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.export_segment', '{operator}');
BEGIN
    RETURN QUERY SELECT * FROM commerce.export_segment(a.tenant_id, export_segment.code, export_segment.mode, export_segment.key);
END $$;
REVOKE ALL ON FUNCTION commerce_api.export_segment(text, text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.export_segment(text, text, text) IS
  'HQ exports a segment''s members (CRM09): member id and phone, masked (default), plain (PII readers only, 42501 otherwise), sha256 (for ad platforms) or encrypted under key (AES-256, base64). Audited unless masked.';

CREATE FUNCTION commerce_api.set_growth_levels(levels jsonb)
RETURNS integer LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.set_growth_levels', '{operator}');
BEGIN
    RETURN commerce.set_growth_levels(a.tenant_id, set_growth_levels.levels);
END $$;
REVOKE ALL ON FUNCTION commerce_api.set_growth_levels(jsonb) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.set_growth_levels(jsonb) IS
  'HQ sets the member levels by growth value (CRM01): [{"level":1,"name":"Silver","min_growth":500}, ...], levels 1, 2, 3, ... with rising min_growth (whole yuan of net spending). Returns how many persons changed level.';

-- The shape of a ticket.
CREATE VIEW commerce_api.ticket_view AS
SELECT NULL::bigint AS ticket_id, NULL::text AS type, NULL::text AS status, NULL::text AS priority, NULL::text AS customer,
       NULL::bigint AS order_id, NULL::bigint AS after_sale_id, NULL::text AS subject, NULL::text AS detail,
       NULL::text AS assignee_kind, NULL::text AS assignee, NULL::timestamptz AS respond_by, NULL::timestamptz AS due_at,
       NULL::integer AS escalation, NULL::timestamptz AS created_at, NULL::timestamptz AS updated_at
 WHERE false;
COMMENT ON VIEW commerce_api.ticket_view IS
  E'@omit all\nA service ticket: type, state (pending, processing, waiting_customer, done, closed), priority, the customer, order and after-sale request, subject and detail, who handles it, when it must be answered and resolved, its escalation level, when opened and last changed.';

-- A ticket as ticket_view.
CREATE FUNCTION commerce._ticket_view(p_tenant bigint, p_ticket bigint) RETURNS SETOF commerce_api.ticket_view
LANGUAGE sql STABLE AS $$
    SELECT t.ticket_id, t.type, t.status, t.priority, c.code, t.order_id, t.after_sale_id, t.subject, t.detail,
           t.assignee_kind, t.assignee, t.respond_by, t.due_at, t.escalation, t.created_at, t.updated_at
      FROM commerce.ticket t JOIN commerce.customer c ON c.tenant_id = t.tenant_id AND c.customer_id = t.customer_id
     WHERE t.tenant_id = p_tenant AND t.ticket_id = p_ticket;
$$;
COMMENT ON FUNCTION commerce._ticket_view(bigint, bigint) IS 'A ticket as the API shows it (ticket_view).';

-- The ticket a caller names: a customer's own (PT404 for any other), any for staff and services.
CREATE FUNCTION commerce._api_ticket(a commerce.actor, p_ticket bigint) RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
BEGIN
    PERFORM commerce._require(p_ticket, 'ticket_id');
    IF NOT EXISTS (SELECT 1 FROM commerce.ticket t
                    WHERE t.tenant_id = a.tenant_id AND t.ticket_id = p_ticket
                      AND (a.kind <> 'customer'
                           OR t.person_id = (SELECT c.person_id FROM commerce.customer c
                                              WHERE c.tenant_id = a.tenant_id AND c.code = a.subject))) THEN
        PERFORM commerce._not_found('ticket', p_ticket::text, a.tenant_id);
    END IF;
    RETURN p_ticket;
END $$;
COMMENT ON FUNCTION commerce._api_ticket(commerce.actor, bigint) IS
  'The ticket an API call names: for a customer only one of its own person (another''s reads as unknown, PT404); staff and services any of the tenant''s.';

CREATE FUNCTION commerce_api.open_ticket(request_id text, type text, subject text, detail text DEFAULT NULL,
                                         order_id bigint DEFAULT NULL, after_sale_id bigint DEFAULT NULL,
                                         customer text DEFAULT NULL, priority text DEFAULT NULL)
RETURNS SETOF commerce_api.ticket_view LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.open_ticket', '{customer,store,operator,service}');
        v_customer text := open_ticket.customer; v_id bigint;
BEGIN
    IF a.kind = 'customer' THEN
        v_customer := commerce._actor_subject(a, open_ticket.customer, 'customer');
        IF open_ticket.priority IS NOT NULL THEN
            PERFORM commerce._no_identity('a customer does not set a ticket''s priority',
                'Priority follows the customer''s benefits; staff may raise it.', 'Leave priority out.');
        END IF;
    END IF;
    PERFORM commerce._require(v_customer, 'customer');
    v_id := commerce.open_ticket(a.tenant_id, open_ticket.request_id, v_customer, open_ticket.type, open_ticket.subject,
                                 open_ticket.detail, open_ticket.order_id, open_ticket.after_sale_id, commerce._api_by(a),
                                 open_ticket.priority);
    RETURN QUERY SELECT * FROM commerce._ticket_view(a.tenant_id, v_id);
END $$;
REVOKE ALL ON FUNCTION commerce_api.open_ticket(text, text, text, text, bigint, bigint, text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.open_ticket(text, text, text, text, bigint, bigint, text, text) IS
  'Open a service ticket (CRM05), once per request_id: a customer for itself, customer service for a named customer (and may raise the priority). Type return_refund, exchange, complaint, compensation, repair or consultation; optionally the customer''s own order and after-sale request. Returns it (ticket_view).';

CREATE FUNCTION commerce_api.tickets(customer text DEFAULT NULL, status text DEFAULT NULL, before_id bigint DEFAULT NULL,
                                     page_size integer DEFAULT 20)
RETURNS SETOF commerce_api.ticket_view LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.tickets', '{customer,store,operator,service}');
        v_person bigint;
BEGIN
    PERFORM commerce._api_page(tickets.page_size);
    IF a.kind = 'customer' OR tickets.customer IS NOT NULL THEN
        v_person := commerce.find_person(a.tenant_id,
                                         CASE WHEN a.kind = 'customer' THEN commerce._actor_subject(a, tickets.customer, 'customer')
                                              ELSE tickets.customer END);
    END IF;
    RETURN QUERY
    SELECT v.* FROM commerce.ticket t, LATERAL commerce._ticket_view(t.tenant_id, t.ticket_id) v
     WHERE t.tenant_id = a.tenant_id AND (v_person IS NULL OR t.person_id = v_person)
       AND (tickets.status IS NULL OR t.status = tickets.status)
       AND (tickets.before_id IS NULL OR t.ticket_id < tickets.before_id)
     ORDER BY t.ticket_id DESC LIMIT tickets.page_size;
END $$;
REVOKE ALL ON FUNCTION commerce_api.tickets(text, text, bigint, integer) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.tickets(text, text, bigint, integer) IS
  'Tickets newest first, page_size at a time (before_id: the last ticket of the previous page), optionally in one state: a customer its own; store staff, HQ operators and services all of the tenant''s or a named customer''s.';

-- The shape of a ticket's step.
CREATE VIEW commerce_api.ticket_step AS
SELECT NULL::integer AS seq, NULL::text AS kind, NULL::text AS from_status, NULL::text AS to_status, NULL::text AS actor,
       NULL::text AS note, NULL::timestamptz AS at
 WHERE false;
COMMENT ON VIEW commerce_api.ticket_step IS
  E'@omit all\nA step of a ticket: seq, kind (opened, assigned, status, comment, escalated), the states it moved from and to, who (kind:code), the note, when.';

CREATE FUNCTION commerce_api.ticket_history(ticket_id bigint)
RETURNS SETOF commerce_api.ticket_step LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.ticket_history', '{customer,store,operator,service}');
        v_id bigint := commerce._api_ticket(a, ticket_history.ticket_id);
BEGIN
    RETURN QUERY SELECT e.seq, e.kind, e.from_status, e.to_status, e.actor, e.note, e.at
                   FROM commerce.ticket_event e WHERE e.tenant_id = a.tenant_id AND e.ticket_id = v_id ORDER BY e.seq;
END $$;
REVOKE ALL ON FUNCTION commerce_api.ticket_history(bigint) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.ticket_history(bigint) IS
  'A ticket''s steps in order (ticket_step): a customer its own tickets'' (another''s reads as unknown); staff and services any.';

CREATE FUNCTION commerce_api.move_ticket(ticket_id bigint, status text, note text DEFAULT NULL)
RETURNS SETOF commerce_api.ticket_view LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.move_ticket', '{customer,store,operator,service}');
        v_id bigint := commerce._api_ticket(a, move_ticket.ticket_id); v_status text;
BEGIN
    IF a.kind = 'customer' THEN
        -- a customer answers a ticket waiting for it, or confirms a done one
        SELECT t.status INTO v_status FROM commerce.ticket t WHERE t.tenant_id = a.tenant_id AND t.ticket_id = v_id;
        IF NOT ((v_status = 'waiting_customer' AND move_ticket.status = 'processing')
                OR (v_status = 'done' AND move_ticket.status IN ('closed', 'processing'))) THEN
            PERFORM commerce._no_identity(format('a customer cannot move a %s ticket to %s', v_status, left(move_ticket.status, 32)),
                'A customer answers a ticket waiting for it (processing), confirms a done one (closed) or reopens it (processing).',
                'Customer service moves tickets otherwise.');
        END IF;
    END IF;
    PERFORM commerce.move_ticket(a.tenant_id, v_id, move_ticket.status, move_ticket.note, commerce._api_by(a));
    RETURN QUERY SELECT * FROM commerce._ticket_view(a.tenant_id, v_id);
END $$;
REVOKE ALL ON FUNCTION commerce_api.move_ticket(bigint, text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.move_ticket(bigint, text, text) IS
  'Move a ticket (CRM05): customer service through pending -> processing <-> waiting_customer -> done -> closed (PT409 for a move the flow does not allow); a customer answers its own ticket waiting for it (processing), confirms a done one (closed) or reopens it (processing). The customer is told of each move. Returns it (ticket_view).';

CREATE FUNCTION commerce_api.assign_ticket(ticket_id bigint, assignee_kind text, assignee text)
RETURNS SETOF commerce_api.ticket_view LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.assign_ticket', '{store,operator,service}');
        v_id bigint := commerce._api_ticket(a, assign_ticket.ticket_id);
BEGIN
    PERFORM commerce.assign_ticket(a.tenant_id, v_id, assign_ticket.assignee_kind, assign_ticket.assignee, commerce._api_by(a));
    RETURN QUERY SELECT * FROM commerce._ticket_view(a.tenant_id, v_id);
END $$;
REVOKE ALL ON FUNCTION commerce_api.assign_ticket(bigint, text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.assign_ticket(bigint, text, text) IS
  'Customer service assigns an open ticket to a staff member (assignee_kind staff, a staff code) or to the supply chain (supply_chain). Returns it (ticket_view).';

CREATE FUNCTION commerce_api.comment_ticket(ticket_id bigint, note text, notify boolean DEFAULT false)
RETURNS integer LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.comment_ticket', '{customer,store,operator,service}');
        v_id bigint := commerce._api_ticket(a, comment_ticket.ticket_id);
BEGIN
    RETURN commerce.comment_ticket(a.tenant_id, v_id, comment_ticket.note, commerce._api_by(a),
                                   a.kind <> 'customer' AND coalesce(comment_ticket.notify, false));
END $$;
REVOKE ALL ON FUNCTION commerce_api.comment_ticket(bigint, text, boolean) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.comment_ticket(bigint, text, boolean) IS
  'Add a comment to a ticket: a customer to its own; customer service to any (notify: the customer is told too). Returns the step''s seq.';

CREATE FUNCTION commerce_api.set_ticket_sla(type text, priority text, respond_minutes integer, resolve_minutes integer)
RETURNS void LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.set_ticket_sla', '{operator}');
BEGIN
    PERFORM commerce.set_ticket_sla(a.tenant_id, set_ticket_sla.type, set_ticket_sla.priority, set_ticket_sla.respond_minutes,
                                    set_ticket_sla.resolve_minutes);
END $$;
REVOKE ALL ON FUNCTION commerce_api.set_ticket_sla(text, text, integer, integer) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.set_ticket_sla(text, text, integer, integer) IS
  'HQ sets the minutes a ticket of a type and priority has to be answered and resolved (tickets opened afterwards).';

-- Automation for HTTP clients: HQ defines flows and caps and reads their figures; a customer opts out.

CREATE FUNCTION commerce_api.define_flow(code text, name text, definition jsonb)
RETURNS integer LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.define_flow', '{operator}');
        v integer;
BEGIN
    v := commerce.define_flow(a.tenant_id, define_flow.code, define_flow.name, define_flow.definition);
    PERFORM commerce._audit(a.tenant_id, 'define_flow', define_flow.code, jsonb_build_object('version', v), 'defined');
    RETURN v;
END $$;
REVOKE ALL ON FUNCTION commerce_api.define_flow(text, text, jsonb) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.define_flow(text, text, jsonb) IS
  'HQ defines an automated flow (CRM10-CRM12) or a new version of it (docs/crm.md: a trigger, waits, conditions, splits, actions, exits; 22023 names the JSON path of a bad part). Audited. Returns the version new runs start on.';

CREATE FUNCTION commerce_api.set_flow_status(code text, status text)
RETURNS integer LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.set_flow_status', '{operator}');
        n integer;
BEGIN
    n := commerce.set_flow_status(a.tenant_id, set_flow_status.code, set_flow_status.status);
    PERFORM commerce._audit(a.tenant_id, 'set_flow_status', set_flow_status.code,
                            jsonb_build_object('status', set_flow_status.status, 'runs_exited', n), 'set');
    RETURN n;
END $$;
REVOKE ALL ON FUNCTION commerce_api.set_flow_status(text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.set_flow_status(text, text) IS
  'HQ pauses (paused), resumes (active) or archives (archived: its runs under way exit) a flow. Audited. Returns the runs exited.';

-- The shape of a flow's figures per action type.
CREATE VIEW commerce_api.flow_action_stats AS
SELECT NULL::text AS action, NULL::bigint AS attempted, NULL::bigint AS delivered, NULL::bigint AS pending, NULL::bigint AS capped,
       NULL::bigint AS ineligible, NULL::bigint AS failed, NULL::integer AS execution_rate_bp
 WHERE false;
COMMENT ON VIEW commerce_api.flow_action_stats IS
  E'@omit all\nA flow''s actions of one type (coupon, points, message, tag): attempted, delivered, pending (messages not yet acknowledged by the sender), capped, permanently ineligible (opted out, no address), failed, and the execution rate delivered / (attempted - ineligible) in basis points.';

CREATE FUNCTION commerce_api.flow_stats(code text)
RETURNS SETOF commerce_api.flow_action_stats LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.flow_stats', '{operator,service}');
BEGIN
    RETURN QUERY SELECT * FROM commerce.flow_stats(a.tenant_id, flow_stats.code);
END $$;
REVOKE ALL ON FUNCTION commerce_api.flow_stats(text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.flow_stats(text) IS
  'A flow''s actions per type with their execution rate (flow_action_stats, CRM12). HQ operators and services.';

-- The shape of a step a flow took for a person.
CREATE VIEW commerce_api.flow_step AS
SELECT NULL::text AS flow, NULL::integer AS version, NULL::integer AS run_no, NULL::text AS run_status, NULL::integer AS seq,
       NULL::text AS step, NULL::text AS kind, NULL::text AS outcome, NULL::text AS detail, NULL::timestamptz AS at
 WHERE false;
COMMENT ON VIEW commerce_api.flow_step IS
  E'@omit all\nA step a flow took for a person: the flow, the version and run (run_no) and its state, the step''s seq, id, kind and outcome, the detail (a wait''s end, a coupon, a split''s bucket, why it failed), when.';

CREATE FUNCTION commerce_api.flow_history(customer text, flow text DEFAULT NULL)
RETURNS SETOF commerce_api.flow_step LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.flow_history', '{operator,service}');
        v_person bigint := commerce.find_person(a.tenant_id, flow_history.customer);
BEGIN
    RETURN QUERY
    SELECT f.code, r.version, r.run_no, r.status, s.seq, s.step_id, s.kind, s.outcome, s.detail, s.at
      FROM commerce.flow_run r
      JOIN commerce.flow f ON f.tenant_id = r.tenant_id AND f.flow_id = r.flow_id
      JOIN commerce.flow_step_run s ON s.tenant_id = r.tenant_id AND s.run_id = r.run_id
     WHERE r.tenant_id = a.tenant_id AND r.person_id = v_person AND (flow_history.flow IS NULL OR f.code = flow_history.flow)
     ORDER BY f.code, r.run_no, s.seq;
END $$;
REVOKE ALL ON FUNCTION commerce_api.flow_history(text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.flow_history(text, text) IS
  'The execution history of a customer''s person in every flow, or one (flow_step, CRM12): each run and every step it took. HQ operators and services.';

CREATE FUNCTION commerce_api.set_contact_cap(channel text, per_day integer)
RETURNS void LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.set_contact_cap', '{operator}');
BEGIN
    PERFORM commerce.set_contact_cap(a.tenant_id, set_contact_cap.channel, set_contact_cap.per_day);
END $$;
REVOKE ALL ON FUNCTION commerce_api.set_contact_cap(text, integer) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.set_contact_cap(text, integer) IS
  'HQ caps the marketing messages a person gets on a channel (sms, mini_program, email, wecom) per day (0: none; NULL: no cap).';

CREATE FUNCTION commerce_api.opt_out(channel text DEFAULT 'all', opted_out boolean DEFAULT true, customer text DEFAULT NULL)
RETURNS boolean LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.opt_out', '{customer,service}');
BEGIN
    RETURN commerce.set_contact_optout(a.tenant_id, commerce._actor_subject(a, opt_out.customer, 'customer'), opt_out.channel,
                                       opt_out.opted_out, commerce._api_by(a));
END $$;
REVOKE ALL ON FUNCTION commerce_api.opt_out(text, boolean, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.opt_out(text, boolean, text) IS
  'A customer opts out of marketing messages on a channel (sms, mini_program, email, wecom) or all, or back in (opted_out false); a service records it for a named customer (an SMS "TD" reply). True when something changed.';

-- Insight (CRM07, CRM13-CRM15).

-- A store staff member may see and set only its own stores.
CREATE FUNCTION commerce._api_store_scope(a commerce.actor, p_store text) RETURNS text
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF a.stores IS NULL OR a.kind NOT IN ('store', 'operator', 'finance') THEN
        RETURN p_store;     -- services, and staff of every store
    END IF;
    IF p_store IS NULL AND cardinality(a.stores) = 1 THEN
        RETURN a.stores[1];
    END IF;
    IF p_store IS NULL OR NOT p_store = ANY (a.stores) THEN
        RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = format('staff limited to stores see only their own (%s)', array_to_string(a.stores, ', ')),
            DETAIL = CASE WHEN p_store IS NULL THEN 'The whole tenant was asked for.' ELSE format('Store "%s" was asked for.', left(p_store, 64)) END,
            HINT = 'Name one of your stores.';
    END IF;
    RETURN p_store;
END $$;
COMMENT ON FUNCTION commerce._api_store_scope(commerce.actor, text) IS
  'The store an API call may act on: any (or the whole tenant, NULL) for services and staff of every store; for staff limited to stores (store staff, and HQ staff given a store list) one of theirs (their only store when none is named), 42501 otherwise.';

-- The shape of a day of the health dashboard.
CREATE VIEW commerce_api.health_day AS
SELECT NULL::date AS day, NULL::bigint AS members, NULL::bigint AS new_members, NULL::bigint AS buyers, NULL::bigint AS active,
       NULL::bigint AS dormant, NULL::bigint AS churned, NULL::bigint AS repeat_buyers, NULL::bigint AS orders,
       NULL::bigint AS spent_fen, NULL::integer AS churn_rate_bp, NULL::integer AS repurchase_rate_bp
 WHERE false;
COMMENT ON VIEW commerce_api.health_day IS
  E'@omit all\nA day of the CRM health dashboard: members by then and new that day, buyers split into active, dormant and churned, repeat buyers, the day''s paid orders and net spending (fen), churn and repurchase rates (bp).';

CREATE FUNCTION commerce_api.crm_health(from_day date, to_day date, store text DEFAULT NULL)
RETURNS SETOF commerce_api.health_day LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.crm_health', '{store,operator}');
BEGIN
    RETURN QUERY SELECT h.day, h.members, h.new_members, h.buyers, h.active, h.dormant, h.churned, h.repeat_buyers,
                        h.orders, h.spent_fen, h.churn_rate_bp, h.repurchase_rate_bp
                   FROM commerce.crm_health(a.tenant_id, commerce._api_store_scope(a, crm_health.store),
                                            crm_health.from_day, crm_health.to_day) h;
END $$;
REVOKE ALL ON FUNCTION commerce_api.crm_health(date, date, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.crm_health(date, date, text) IS
  'The CRM health dashboard (CRM13) day by day, from_day to to_day (at most 367 days): of the whole tenant (store NULL, HQ) or of a home store (store staff: their own). Active, dormant and churned by the days since the last paid order (the tenant''s crm_policy, 90 and 180 days unless set).';

CREATE FUNCTION commerce_api.set_home_store(customer text, store text)
RETURNS void LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.set_home_store', '{store,operator}'); v_now text;
BEGIN
    IF a.stores IS NOT NULL THEN
        -- staff limited to stores home a customer in their own store, and only one that is nobody else's
        SELECT s.code INTO v_now FROM commerce.crm_feature f JOIN commerce.store s ON s.tenant_id = f.tenant_id AND s.store_id = f.home_store_id
         WHERE f.tenant_id = a.tenant_id AND f.person_id = commerce.find_person(a.tenant_id, set_home_store.customer);
        IF set_home_store.store IS NULL OR (v_now IS NOT NULL AND NOT v_now = ANY (a.stores)) THEN
            RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'store staff home customers in their own stores only',
                DETAIL = CASE WHEN set_home_store.store IS NULL THEN 'Clearing a home store is for HQ.'
                              ELSE 'The customer''s home store is another store.' END,
                HINT = 'Ask HQ to move the customer.';
        END IF;
    END IF;
    PERFORM commerce.set_home_store(a.tenant_id, set_home_store.customer,
                                    CASE WHEN set_home_store.store IS NULL THEN NULL
                                         ELSE commerce._api_store_scope(a, set_home_store.store) END);
END $$;
REVOKE ALL ON FUNCTION commerce_api.set_home_store(text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.set_home_store(text, text) IS
  'Make a store the home store of a customer (the store whose health dashboard counts the person): store staff their own stores, HQ any store, or none (store NULL).';

CREATE FUNCTION commerce_api.set_crm_policy(active_days integer, churn_days integer, horizon_days integer DEFAULT 90,
                                            churn_tag_bp integer DEFAULT 7000, high_spender_bp integer DEFAULT 1000)
RETURNS void LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.set_crm_policy', '{operator}');
BEGIN
    PERFORM commerce.set_crm_policy(a.tenant_id, set_crm_policy.active_days, set_crm_policy.churn_days,
                                    set_crm_policy.horizon_days, set_crm_policy.churn_tag_bp, set_crm_policy.high_spender_bp);
END $$;
REVOKE ALL ON FUNCTION commerce_api.set_crm_policy(integer, integer, integer, integer, integer) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.set_crm_policy(integer, integer, integer, integer, integer) IS
  'HQ sets the insight settings: a buyer is active with a paid order in active_days, churned with none in churn_days; the churn model predicts no paid order in horizon_days; likely_to_churn at churn_tag_bp and above, high_spender the top high_spender_bp of the others by net spending.';

-- The shape of a model.
CREATE VIEW commerce_api.crm_model_view AS
SELECT NULL::text AS version, NULL::text AS kind, NULL::date AS trained_until, NULL::date AS evaluated_to,
       NULL::integer AS horizon_days, NULL::bigint AS persons, NULL::jsonb AS params, NULL::jsonb AS metrics,
       NULL::text AS created_by, NULL::timestamptz AS created_at
 WHERE false;
COMMENT ON VIEW commerce_api.crm_model_view IS
  E'@omit all\nA fitted churn model: its version (as recorded on the model tags it set), the day its fit stops and the day its holdout ends, its parameters and holdout metrics (AUC, top-decile lift, calibration error, Brier score, accuracy beside the base rate).';

CREATE FUNCTION commerce_api.crm_models()
RETURNS SETOF commerce_api.crm_model_view LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.crm_models', '{operator}');
BEGIN
    RETURN QUERY SELECT m.version, m.kind, m.trained_until, m.evaluated_to, m.horizon_days, m.persons,
                        jsonb_build_object('r', m.params[1], 'alpha', m.params[2], 'a', m.params[3], 'b', m.params[4],
                                           'log_likelihood', m.params[5]),
                        m.metrics, m.created_by, m.created_at
                   FROM commerce.crm_model m WHERE m.tenant_id = a.tenant_id ORDER BY m.model_id DESC;
END $$;
REVOKE ALL ON FUNCTION commerce_api.crm_models() FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.crm_models() IS
  'HQ lists the tenant''s churn models (CRM15), newest first, with parameters and holdout metrics.';

CREATE FUNCTION commerce_api.train_churn_model()
RETURNS text LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.train_churn_model', '{operator}'); v_id bigint;
BEGIN
    v_id := commerce.crm_train_churn(a.tenant_id, commerce._api_by(a));
    PERFORM commerce.crm_score_churn(a.tenant_id);
    RETURN (SELECT m.version FROM commerce.crm_model m WHERE m.tenant_id = a.tenant_id AND m.model_id = v_id);
END $$;
REVOKE ALL ON FUNCTION commerce_api.train_churn_model() FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.train_churn_model() IS
  'HQ retrains the churn model now (the nightly job retrains it every 28 days) and rescores every buyer; returns the new version. PT409 with too little history.';

CREATE FUNCTION commerce_api.recall(flow text, min_risk_bp integer DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.recall', '{operator}'); r record;
BEGIN
    SELECT * INTO r FROM commerce.crm_recall(a.tenant_id, recall.flow, recall.min_risk_bp, commerce._api_by(a));
    RETURN jsonb_build_object('recall_id', r.recall_id, 'persons', r.persons);
END $$;
REVOKE ALL ON FUNCTION commerce_api.recall(text, integer) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.recall(text, integer) IS
  'One-click recall (CRM15): HQ sends every buyer whose churn risk is at or above min_risk_bp (default: the tenant''s churn_tag_bp) into an active flow triggered "on": "recall" (a broadcast is a flow of one message step). Returns {recall_id, persons}.';

-- Third-party CRM sync (CRM16, CRM17).

CREATE FUNCTION commerce_api.upsert_sync_system(code text, name text, field_map jsonb, enabled boolean DEFAULT true)
RETURNS bigint LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.upsert_sync_system', '{operator}');
BEGIN
    RETURN commerce.upsert_sync_system(a.tenant_id, upsert_sync_system.code, upsert_sync_system.name,
                                       upsert_sync_system.field_map, upsert_sync_system.enabled);
END $$;
REVOKE ALL ON FUNCTION commerce_api.upsert_sync_system(text, text, jsonb, boolean) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.upsert_sync_system(text, text, jsonb, boolean) IS
  'HQ registers a third-party CRM (CRM16) or changes its field map ({"person": {"name": "FullName", ...}, "koc": {...}, "order": {...}}: our field names to the system''s) or switches it off. From then on every change of a mapped kind of object is an outbox message crm.sync.<code>. Returns the system id.';

CREATE FUNCTION commerce_api.sync_result(message bigint, worker text, ok boolean, error text DEFAULT NULL,
                                         external_id text DEFAULT NULL)
RETURNS text LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.sync_result', '{service}');
BEGIN
    RETURN commerce.sync_result(a.tenant_id, sync_result.message, left(sync_result.worker, 100), sync_result.ok,
                                sync_result.error, sync_result.external_id);
END $$;
REVOKE ALL ON FUNCTION commerce_api.sync_result(bigint, text, boolean, text, text) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.sync_result(bigint, text, boolean, text, text) IS
  'A sync adapter (service) reports a crm.sync.<system> message it claimed: delivered (ok, with the system''s id of the object when it has one) or failed with the remote error (retried with backoff, then a dead letter). Report sync messages here, not with ack_message: the monitor follows from it. Returns the message''s status.';

CREATE FUNCTION commerce_api.sync_inbound(system text, external_id text, fields jsonb)
RETURNS jsonb LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.sync_inbound', '{service}');
BEGIN
    RETURN commerce.sync_inbound(a.tenant_id, sync_inbound.system, sync_inbound.external_id, sync_inbound.fields);
END $$;
REVOKE ALL ON FUNCTION commerce_api.sync_inbound(text, text, jsonb) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.sync_inbound(text, text, jsonb) IS
  'A sync adapter (service) delivers a person record of a system (CRM16; a webhook, replayed or not): fields {"<their field>": {"value": ..., "version": n}}, matched by the system''s id alone, each field applied only when its version is newer (name, tags). Safe to deliver twice, out of order or concurrently. Returns {customer, created, applied, stale, ignored}.';

-- The shape of the sync monitor.
CREATE VIEW commerce_api.sync_status AS
SELECT NULL::text AS object_type, NULL::bigint AS objects, NULL::bigint AS synced, NULL::bigint AS pending,
       NULL::bigint AS failed, NULL::timestamptz AS last_synced_at, NULL::bigint AS acked, NULL::bigint AS failures,
       NULL::bigint AS inbound, NULL::bigint AS stale_fields, NULL::numeric AS delay_p50_ms, NULL::numeric AS delay_p95_ms
 WHERE false;
COMMENT ON VIEW commerce_api.sync_status IS
  E'@omit all\nThe sync monitor of a system for one kind of object (person, koc, order): objects sent, synced, pending and failed now, the last acknowledgement; over the period asked: acknowledgements, failures, inbound records, stale fields ignored, delay from change to acknowledgement (p50, p95, ms).';

CREATE FUNCTION commerce_api.sync_monitor(system text, since interval DEFAULT '24 hours')
RETURNS SETOF commerce_api.sync_status LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.sync_monitor', '{operator}');
BEGIN
    RETURN QUERY SELECT * FROM commerce.sync_monitor(a.tenant_id, sync_monitor.system, sync_monitor.since);
END $$;
REVOKE ALL ON FUNCTION commerce_api.sync_monitor(text, interval) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.sync_monitor(text, interval) IS
  'HQ watches a sync (CRM17): per kind of object, status counts, last synced, failures, inbound records and stale fields over since (default 24 hours), and the delay from a local change to its acknowledgement (p50, p95).';

-- The shape of a failed sync.
CREATE VIEW commerce_api.sync_failure AS
SELECT NULL::text AS object_type, NULL::bigint AS object_id, NULL::bigint AS version, NULL::bigint AS acked_version,
       NULL::integer AS failures, NULL::text AS last_error, NULL::timestamptz AS changed_at, NULL::bigint AS message_id
 WHERE false;
COMMENT ON VIEW commerce_api.sync_failure IS
  E'@omit all\nAn object whose latest delivery to a system failed: its kind and id, version and the last acknowledged, failures in a row, the remote error, when it changed, the outbox message.';

CREATE FUNCTION commerce_api.sync_failures(system text, max integer DEFAULT 100)
RETURNS SETOF commerce_api.sync_failure LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.sync_failures', '{operator}');
BEGIN
    RETURN QUERY SELECT * FROM commerce.sync_failures(a.tenant_id, sync_failures.system, sync_failures.max);
END $$;
REVOKE ALL ON FUNCTION commerce_api.sync_failures(text, integer) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.sync_failures(text, integer) IS
  'HQ lists the objects whose latest delivery to a system failed (CRM17), with the remote error; retry one with sync_retry.';

CREATE FUNCTION commerce_api.sync_retry(system text, object_type text, object_id bigint)
RETURNS bigint LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, commerce, pg_temp AS $$
DECLARE a commerce.actor := commerce._api_actor('commerce_api.sync_retry', '{operator}');
BEGIN
    RETURN commerce.sync_retry(a.tenant_id, sync_retry.system, sync_retry.object_type, sync_retry.object_id, commerce._api_by(a));
END $$;
REVOKE ALL ON FUNCTION commerce_api.sync_retry(text, text, bigint) FROM PUBLIC;
COMMENT ON FUNCTION commerce_api.sync_retry(text, text, bigint) IS
  'HQ sends an object to a system again, as a new version of its current state (CRM17: the manual retry). Returns the version.';
