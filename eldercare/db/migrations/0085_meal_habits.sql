-- The meals a resident regularly takes at home and when (alerts.meals), learned with the routine.
CREATE TABLE meal_habits (
    resident_id  bigint PRIMARY KEY REFERENCES residents (id) ON DELETE CASCADE,
    habits       jsonb NOT NULL,   -- [alerts.meals.MealHabit.to_dict(), ...]
    learned_at   timestamptz NOT NULL
);
