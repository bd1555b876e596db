"""The caller's own notifications (list, unread count, mark read) and preferences."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from notifications.selectors import notification_list, preference_rows, unread_count
from notifications.services import notifications_mark_read, preferences_set


class NotificationSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    event_type = serializers.CharField()
    title = serializers.CharField()
    body = serializers.CharField()
    url = serializers.CharField()
    created_at = serializers.DateTimeField()
    read_at = serializers.DateTimeField(allow_null=True)
    email_state = serializers.CharField()


class MarkReadSerializer(serializers.Serializer):
    ids = serializers.ListField(child=serializers.IntegerField(min_value=1), required=False, max_length=1000)


class PreferenceSerializer(serializers.Serializer):
    type = serializers.CharField()
    in_app = serializers.BooleanField()
    email = serializers.BooleanField()


class NotificationListView(APIView):
    scope_area = "notifications"

    @extend_schema(
        responses=inline_serializer(
            "NotificationList",
            {"unread": serializers.IntegerField(), "results": NotificationSerializer(many=True)},
        )
    )
    def get(self, request) -> Response:
        rows = notification_list(user=request.user)[:100]
        return Response(
            {
                "unread": unread_count(user=request.user),
                "results": NotificationSerializer(rows, many=True).data,
            }
        )


class NotificationReadView(APIView):
    scope_area = "notifications"

    @extend_schema(
        request=MarkReadSerializer,
        responses=inline_serializer(
            "NotificationsMarked",
            {"marked": serializers.IntegerField(), "unread": serializers.IntegerField()},
        ),
    )
    def post(self, request) -> Response:
        body = MarkReadSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        count = notifications_mark_read(user=request.user, ids=body.validated_data.get("ids"))
        return Response({"marked": count, "unread": unread_count(user=request.user)})


class PreferenceView(APIView):
    scope_area = "notifications"

    @extend_schema(responses=PreferenceSerializer(many=True))
    def get(self, request) -> Response:
        return Response(preference_rows(user=request.user))

    @extend_schema(request=PreferenceSerializer(many=True), responses=PreferenceSerializer(many=True))
    def put(self, request) -> Response:
        body = PreferenceSerializer(data=request.data, many=True)
        body.is_valid(raise_exception=True)
        try:
            preferences_set(
                user=request.user,
                choices={row["type"]: (row["in_app"], row["email"]) for row in body.validated_data},
            )
        except ValueError as exc:
            raise serializers.ValidationError({"type": [str(exc)]}) from None
        return Response(preference_rows(user=request.user))
