"""Wires a parent or child gateway (``site.role``) to the site's controller and MQTT client."""

from __future__ import annotations

from edge_controller.config.gateway_checks import failsafe_draw_a
from edge_controller.config.settings import Settings
from edge_controller.domain.balancing import Policy, Site
from edge_controller.domain.gateways import ChildFeeder, ParentSetup, ParentTiming, gateway_site
from edge_controller.services.control.site_controller import SiteController
from edge_controller.services.gateways import (
    ChildService,
    ChildTerms,
    GatewayTopics,
    ParentService,
)
from edge_controller.storage.database import Database
from edge_controller.storage.gateways_store import GatewayStore
from edge_controller.telemetry import MqttService


def follow_s(settings: Settings, policy: Policy) -> float:
    """From a child taking a lower budget to its EVs drawing no more than it: its next
    decision and write, the charger's signal, the EVs' time to follow."""
    return settings.site.tick_s + policy.signal_delay_s + policy.decrease_settle_s


def build_gateway(
    settings: Settings,
    controller: SiteController,
    mqtt: MqttService,
    tree: tuple[Site, Policy],
    db: Database,
) -> ParentService | ChildService:
    """The parent's or the child's service, listening on its topics."""
    gateways, (site, policy) = settings.site.gateways, tree
    topics = GatewayTopics(gateways.topic_prefix)
    if settings.site.role == "child":
        assert gateways.child_id is not None and gateways.safe_budget_a is not None  # checked
        terms = ChildTerms(
            gateways.child_id,
            feeder_limit_a=site.grid_limit_a,
            safe_budget_a=gateways.safe_budget_a,
            report_interval_s=gateways.report_interval_s,
            tolerance_s=gateways.clock_tolerance_s,
            follow_s=follow_s(settings, policy),
            failsafe_a=failsafe_draw_a(settings),
        )
        child = ChildService(terms, controller, mqtt, topics)
        mqtt.listen(topics.budget(gateways.child_id), child.on_message)
        return child
    children = tuple(
        ChildFeeder(cid, c.limit_a, c.parent, c.safe_budget_a, c.lease_s)
        for cid, c in gateways.children.items()
    )
    timing = ParentTiming(
        report_stale_s=gateways.report_stale_s,
        settle_s=follow_s(settings, policy),
        tolerance_s=gateways.clock_tolerance_s,
    )
    setup = ParentSetup(gateway_site(site, children), children, policy, timing)
    parent = ParentService(
        setup, controller, mqtt, topics, tick_s=settings.site.tick_s, keeper=GatewayStore(db)
    )
    mqtt.listen(topics.demand_filter, parent.on_message)
    return parent
