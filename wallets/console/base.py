"""What every console page shares: who is asking, form pages, read-only ledger pages."""

import secrets

from django.contrib import messages
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from unfold.admin import ModelAdmin

from ewallet.errors import EwalletError
from ewallet.money import format_fen
from wallets.actors import Actor, request_actor


def actor(request) -> Actor:
    return request_actor(request)


def admin_url(model, name: str, *args) -> str:
    opts = model._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_{name}", args=args)


def nonce_form(form_class):
    """The form with a hidden one-time key, so a resubmitted POST moves money once."""
    from django import forms as django_forms

    class WithNonce(form_class):
        nonce = django_forms.CharField(
            widget=django_forms.HiddenInput, initial=lambda: secrets.token_hex(16)
        )

    WithNonce.__name__ = form_class.__name__
    return WithNonce


def yuan(fen: int | None) -> str:
    """1234567 fen -> "12,345.67"; None -> "—" (no limit)."""
    if fen is None:
        return "—"
    whole, _, cents = format_fen(fen).partition(".")
    sign = "-" if whole.startswith("-") else ""
    return f"{sign}{int(whole.lstrip('-')):,}.{cents}"


class ConsoleAdmin(ModelAdmin):
    """A page of the console. Subclasses scope `get_queryset` to the caller; a row outside
    the scope is not found, by list or by URL."""

    list_per_page = 50
    compressed_fields = True
    warn_unsaved_form = True

    def url(self, name: str, *args) -> str:
        opts = self.model._meta
        return reverse(f"admin:{opts.app_label}_{opts.model_name}_{name}", args=args)

    def form_page(
        self,
        request,
        *,
        title: str,
        form,
        submit_label: str,
        intro: str = "",
        facts=(),
        cancel_url: str | None = None,
    ) -> TemplateResponse:
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "form": form,
            "submit_label": submit_label,
            "intro": intro,
            "facts": facts,
            "cancel_url": cancel_url,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "console/form.html", context)

    def secret_page(self, request, *, title: str, intro: str, facts, back_url: str):
        """A page that shows a secret once (its response is not cached, nothing keeps it)."""
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "intro": intro,
            "facts": facts,
            "back_url": back_url,
            "opts": self.model._meta,
        }
        response = TemplateResponse(request, "console/secret.html", context)
        response["Cache-Control"] = "no-store"
        return response

    def run_form(self, request, form_class, perform, *, initial=None, **page):
        """GET shows the form; a valid POST calls `perform(cleaned_data)` (one service),
        which returns (message, redirect URL, *rows): the message is shown and kept in each
        row's console history; a refusal by the service is shown on the form."""
        form = form_class(request.POST if request.method == "POST" else None, initial=initial)
        if request.method == "POST" and form.is_valid():
            try:
                message, url, *rows = perform(form.cleaned_data)
            except EwalletError as error:
                form.add_error(None, f"{error.code}: {error.message}")
            else:
                for row in rows:
                    self.log_change(request, row, message)
                messages.success(request, message)
                return HttpResponseRedirect(url)
        return self.form_page(request, form=form, **page)

    def run_secret_form(self, request, form_class, perform, *, log=None, **page):
        """As `run_form`, for an action whose answer shows a secret once: `perform` returns
        (message, answer, *rows), where `answer` is what `secret_page` shows; the message,
        which never holds the secret, is kept in each row's history (`log` writes it, by
        default `log_change`)."""
        form = form_class(request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            try:
                message, answer, *rows = perform(form.cleaned_data)
            except EwalletError as error:
                form.add_error(None, f"{error.code}: {error.message}")
            else:
                for row in rows:
                    (log or self.log_change)(request, row, message)
                return self.secret_page(request, **answer)
        return self.form_page(request, form=form, **page)

    def _get_obj_does_not_exist_redirect(self, request, opts, object_id):
        # Django redirects to the index for a missing row; outside the caller's scope is
        # the same as missing, and a plain 404 says so without a hint.
        raise Http404("not found")

    def visible(self, request, object_id) -> bool:
        """For an action's permission check: a row outside the caller's scope is a 404
        before any question of permission, so its existence does not leak."""
        if object_id is not None and self.get_object(request, str(object_id)) is None:
            raise Http404("not found")
        return True

    def scoped_object(self, request, object_id):
        """The row if the caller may see it; otherwise 404, as if it did not exist."""
        obj = self.get_object(request, object_id)
        if obj is None or not self.has_view_permission(request, obj):
            raise Http404("not found")
        return obj


class ReadOnlyAdmin(ConsoleAdmin):
    """The ledger: searched and viewed, never added, edited or deleted from the console."""

    actions = None
    # The ledger's tables grow large: no exact COUNT(*) of everything on each page.
    show_full_result_count = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
