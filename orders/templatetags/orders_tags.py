from django import template

from project.templatetags.surge import money

register = template.Library()
register.filter("money", money)
