from rest_framework import serializers


class CredentialsIn(serializers.Serializer):
    username = serializers.CharField(max_length=150, trim_whitespace=True)
    password = serializers.CharField(max_length=128, trim_whitespace=False, style={"input_type": "password"})


class RegisterOut(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    token = serializers.CharField()


class TokenOut(serializers.Serializer):
    token = serializers.CharField()
