"""Account pages: register, log in, log out."""

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from usercenter.forms import RegisterForm


class LoginView(auth_views.LoginView):
    template_name = "usercenter/login.html"
    redirect_authenticated_user = True


class LogoutView(auth_views.LogoutView):
    pass


def home(request):
    return render(request, "usercenter/home.html")


@require_http_methods(["GET", "POST"])
def register(request):
    if request.user.is_authenticated:
        return redirect("home")
    form = RegisterForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        if user is not None:
            login(request, user, backend="usercenter.auth.CachedUserBackend")
            messages.success(request, f"Welcome, {user.username}!")
            return redirect("home")
    return render(request, "usercenter/register.html", {"form": form}, status=400 if form.errors else 200)
