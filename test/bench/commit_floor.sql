INSERT INTO public.commit_floor VALUES (1);
