from django.db import migrations

# A wallet row is rewritten by every credit (balance, points, version, updated_at; none of them
# indexed). With free room in its page PostgreSQL updates it in place ("HOT": no new entry in the
# primary key's index); full pages (fillfactor 100) made every credit of a drained batch a
# non-HOT update. Existing pages keep their layout until the table is rewritten (VACUUM FULL).


class Migration(migrations.Migration):
    dependencies = [("usercenter", "0005_alter_ledgerentry_user")]

    operations = [
        migrations.RunSQL(
            "ALTER TABLE usercenter_wallet SET (fillfactor = 70)",
            reverse_sql="ALTER TABLE usercenter_wallet RESET (fillfactor)",
        )
    ]
