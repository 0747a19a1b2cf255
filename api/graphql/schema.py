"""The schema and its router, mounted by the app at /graphql."""

from __future__ import annotations

from datetime import timedelta

import strawberry
from strawberry.fastapi import GraphQLRouter
from strawberry.schema.config import StrawberryConfig
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL

from api.graphql.context import Context, get_context
from api.graphql.limits import EXTENSIONS
from api.graphql.query import Query
from api.graphql.scalars import SCALARS
from api.graphql.subscriptions import Subscription

#: Most subscriptions one WebSocket may hold open (each is a queue in the hub).
MAX_SUBSCRIPTIONS = 10

schema = strawberry.Schema(
    query=Query,
    subscription=Subscription,
    extensions=EXTENSIONS,
    config=StrawberryConfig(scalar_map=SCALARS),
)


def graphql_router() -> GraphQLRouter[Context, None]:
    """GET/POST /graphql (GraphiQL in a browser) and graphql-transport-ws subscriptions
    (the only WebSocket protocol offered)."""
    return GraphQLRouter(
        schema,
        path="/graphql",
        context_getter=get_context,
        subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
        connection_init_wait_timeout=timedelta(seconds=10),
        max_subscriptions_per_connection=MAX_SUBSCRIPTIONS,
        # GraphQL documents itself (introspection); OpenAPI would only list one endpoint
        # whose GET is the GraphiQL page.
        include_in_schema=False,
    )
