"""Pages: home, the user center, register, log in, log out."""

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from usercenter import selectors, services
from usercenter.context_processors import nav
from usercenter.forms import RegisterForm


class LoginView(auth_views.LoginView):
    template_name = "usercenter/login.html"
    redirect_authenticated_user = True


class LogoutView(auth_views.LogoutView):
    pass


def home(request):
    """Server-rendered from the cached home document; the page's script then prefers the
    CDN's `home.json` (falling back to `/api/home/`) when it is at least as new."""
    return render(request, "usercenter/home.html", {"doc": selectors.home_document(), **nav(request)})


RECENT_LEDGER = 10


@login_required
@require_http_methods(["GET", "POST"])
def me(request):
    """The user center. The form is saved by the page's script through `PATCH /api/me/`; a
    plain POST (no script) does the same here."""
    errors: dict = {}
    if request.method == "POST":
        changes = {k: request.POST.get(k, "") for k in services.PROFILE_FIELDS if k in request.POST}
        try:
            services.profile_update(user_id=request.user.pk, **changes)
        except ValidationError as exc:
            errors = exc.message_dict
        else:
            messages.success(request, "Profile saved.")
            return redirect("me")
    me_doc = selectors.me_get(user_id=request.user.pk)
    if errors:
        me_doc = {**me_doc, **{k: request.POST.get(k, "") for k in services.PROFILE_FIELDS}}
    ledger = selectors.ledger_page(user_id=request.user.pk, page=1, page_size=RECENT_LEDGER)
    context = {"me": me_doc, "ledger": ledger["results"], "errors": errors, **nav(request)}
    return render(request, "usercenter/me.html", context, status=400 if errors else 200)


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
